//! Capture policies and masking, seen from the records the collector gets: bodies are copied
//! as they stream (what the client and the upstream see is untouched), cut at `max_bytes` and
//! masked; headers are captured only when the policy says so; the query always is masked.

use std::sync::Arc;

use bytes::Bytes;
use gatewatch_gateway::RouteConfig;
use gatewatch_model::api::CapturePolicy;
use gatewatch_model::mask::MaskRules;
use gatewatch_model::{ApiSpec, CallRecord};
use http::{Request, Response};
use http_body_util::BodyExt;

use crate::support::*;

/// An upstream that answers with the request body it read, as JSON.
async fn echo() -> Server {
    Server::start(|req: Request<hyper::body::Incoming>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut resp = Response::new(full(body));
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        resp.headers_mut()
            .insert("set-cookie", "sid=up-S3cret; Path=/".parse().unwrap());
        resp
    })
    .await
}

fn route(prefix: &str, up: std::net::SocketAddr, capture: CapturePolicy) -> RouteConfig {
    let upstream = format!("http://{up}");
    let mut spec = ApiSpec::prefixed(prefix, prefix, &[&upstream]);
    spec.capture = capture;
    spec.masking = MaskRules {
        json_paths: vec!["token".into()],
        query_params: vec!["secret".into()],
        ..MaskRules::default()
    };
    let mut r = RouteConfig::new(prefix, [upstream]);
    r.spec = Some(Arc::new(spec));
    r
}

async fn record_of(state: &CollectorState, request_id: &str) -> CallRecord {
    eventually(10, "the record", || {
        state.records().iter().any(|r| r.request_id == request_id)
    })
    .await;
    state
        .records()
        .into_iter()
        .find(|r| r.request_id == request_id)
        .unwrap()
}

#[tokio::test]
async fn bodies_are_tapped_as_they_stream_cut_and_masked() {
    let up = echo().await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![route(
        "/pay",
        up.addr,
        CapturePolicy::Bodies { max_bytes: 64 },
    )];
    let gw = Gateway::start(c).await;

    // The body comes in several frames; the cut at 64 bytes falls inside the third.
    let chunks = [
        r#"{"token":"tok-SECRET-1","#.to_string(),
        r#""card":"4111111111111111","#.to_string(),
        format!(r#""pad":"{}"}}"#, "x".repeat(200)),
    ];
    let sent: String = chunks.concat();
    let (tx, body) = chan_body();
    let req = Request::post("/pay/echo?secret=q-S3cret&tel=0912345678")
        .header("x-request-id", "cap-1")
        .header("authorization", "Bearer tok-H3ader")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let feeder = tokio::spawn(async move {
        for c in chunks {
            tx.send(Bytes::from(c)).await.unwrap();
        }
    });
    let reply = gw.send(req).await;
    feeder.await.unwrap();
    assert_eq!(reply.status, 200);
    // Proxying is untouched by the capture.
    assert_eq!(reply.body, sent.as_bytes());

    let r = record_of(&state, "cap-1").await;
    let marker = format!("\u{2026}[truncated: first 64 of {} bytes]", sent.len());
    let want = format!(r#"{{"token":"****","card":"************1111","pad":"{marker}"#);
    assert_eq!(r.request_body, want);
    assert_eq!(r.response_body, want);
    assert_eq!(r.request_bytes, sent.len() as u64);
    assert_eq!(r.query, "secret=****&tel=*******678");
    let header = |h: &[gatewatch_model::Header], name: &str| {
        h.iter()
            .find(|x| x.0 == name)
            .map(|x| x.1.clone())
            .unwrap_or_default()
    };
    assert_eq!(header(&r.request_headers, "authorization"), "Bearer ****");
    assert_eq!(
        header(&r.response_headers, "set-cookie"),
        "sid=****; Path=/"
    );
    assert_eq!(
        header(&r.response_headers, "content-type"),
        "application/json"
    );
    let line = serde_json::to_string(&r).unwrap();
    for secret in [
        "tok-SECRET-1",
        "4111111111111111",
        "q-S3cret",
        "tok-H3ader",
        "up-S3cret",
    ] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn each_policy_captures_only_what_it_names() {
    let up = echo().await;
    let (col, state) = collector().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    c.routes = vec![
        route("/none", up.addr, CapturePolicy::None),
        route("/headers", up.addr, CapturePolicy::Headers),
        route(
            "/bodies",
            up.addr,
            CapturePolicy::Bodies { max_bytes: 1024 },
        ),
    ];
    let gw = Gateway::start(c).await;
    for p in ["none", "headers", "bodies"] {
        let req = Request::post(format!("/{p}/x?card=4111111111111111"))
            .header("x-request-id", format!("policy-{p}"))
            .header("cookie", "sid=c-S3cret")
            .body(full(r#"{"token":"t-S3cret","ok":1}"#))
            .unwrap();
        assert_eq!(gw.send(req).await.status, 200);
    }
    let none = record_of(&state, "policy-none").await;
    assert!(none.request_headers.is_empty() && none.response_headers.is_empty());
    assert!(none.request_body.is_empty() && none.response_body.is_empty());
    assert_eq!(none.query, "card=************1111");

    let headers = record_of(&state, "policy-headers").await;
    assert!(headers
        .request_headers
        .iter()
        .any(|h| h.0 == "cookie" && h.1 == "sid=****"));
    assert!(!headers.response_headers.is_empty());
    assert!(headers.request_body.is_empty() && headers.response_body.is_empty());

    let bodies = record_of(&state, "policy-bodies").await;
    assert_eq!(bodies.request_body, r#"{"token":"****","ok":1}"#);
    assert_eq!(bodies.response_body, r#"{"token":"****","ok":1}"#);
    gw.shutdown().await;
}
