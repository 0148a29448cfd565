//! OTLP/HTTP export (`[gateway.otlp]`): one SERVER span per call reaches a local OTLP receiver
//! that decodes what the OpenTelemetry Collector's `otlphttp` receiver decodes (POST
//! `/v1/traces`, `Content-Type: application/x-protobuf`, an `ExportTraceServiceRequest`), with
//! the call's ids, name, kind, times, status and attributes; a receiver that is away costs the
//! calls nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatewatch_gateway::{OtlpConfig, RouteConfig};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode as SpanStatus};
use prost::Message;

use crate::support::*;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// An OTLP/HTTP receiver: checks the method, path and content type, decodes the body.
async fn otlp_receiver() -> (Server, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let server = Server::start(move |req: Request<Incoming>| {
        let g = g.clone();
        async move {
            assert_eq!(req.method(), http::Method::POST);
            assert_eq!(req.uri().path(), "/v1/traces");
            assert_eq!(
                req.headers()[http::header::CONTENT_TYPE],
                "application/x-protobuf"
            );
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let decoded = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
            g.lock().unwrap().push(decoded);
            // An empty ExportTraceServiceResponse is zero bytes of protobuf.
            let mut resp = Response::new(full(""));
            *resp.status_mut() = StatusCode::OK;
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-protobuf"),
            );
            resp
        }
    })
    .await;
    (server, got)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attrs(
    kv: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> BTreeMap<String, Option<Value>> {
    kv.iter()
        .map(|k| (k.key.clone(), k.value.clone().and_then(|v| v.value)))
        .collect()
}

fn s(v: &str) -> Option<Value> {
    Some(Value::StringValue(v.into()))
}

#[tokio::test]
async fn one_server_span_per_call_reaches_the_otlp_receiver() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, _state) = collector().await;
    let (otlp, got) = otlp_receiver().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    let mut o = OtlpConfig::new(format!("http://{}/v1/traces", otlp.addr));
    o.service_name = "gw-orders".into();
    o.flush_interval = Duration::from_millis(100);
    c.otlp = Some(o);
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    let gw = Gateway::start(c).await;

    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let r = gw
        .send(
            Request::get("/api/echo?token=secret")
                .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(gw.get("/api/status/503").await.status, 503);
    assert_eq!(gw.get("/nowhere").await.status, 404);

    eventually(10, "three spans at the receiver", || {
        got.lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>()
            == 3
    })
    .await;
    let requests = got.lock().unwrap().clone();
    let mut spans = Vec::new();
    for req in &requests {
        for rs in &req.resource_spans {
            let res = attrs(&rs.resource.as_ref().unwrap().attributes);
            assert_eq!(res["service.name"], s("gw-orders"));
            assert_eq!(res["service.instance.id"], s("gw-test"));
            for ss in &rs.scope_spans {
                assert_eq!(ss.scope.as_ref().unwrap().name, "gatewatch");
                spans.extend(ss.spans.iter().cloned());
            }
        }
    }
    let by_path = |p: &str| {
        spans
            .iter()
            .find(|sp| attrs(&sp.attributes)["url.path"] == s(p))
            .unwrap_or_else(|| panic!("no span of {p}: {spans:?}"))
            .clone()
    };

    // The caller's trace, continued: its span is the parent, the gateway's span is new.
    let ok = by_path("/api/echo");
    assert_eq!(hex(&ok.trace_id), caller_trace);
    assert_eq!(hex(&ok.parent_span_id), caller_span);
    assert_eq!(ok.span_id.len(), 8);
    assert_ne!(hex(&ok.span_id), caller_span);
    assert_eq!(ok.kind, SpanKind::Server as i32);
    assert_eq!(ok.name, "GET /api/**", "method and the API's route");
    assert!(ok.end_time_unix_nano >= ok.start_time_unix_nano);
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(ok.start_time_unix_nano > now_ns - 60_000_000_000);
    assert_eq!(ok.status.as_ref().unwrap().code, SpanStatus::Unset as i32);
    let a = attrs(&ok.attributes);
    assert_eq!(a["http.request.method"], s("GET"));
    assert_eq!(a["http.response.status_code"], Some(Value::IntValue(200)));
    assert_eq!(a["gatewatch.api"], s("/api"));
    assert_eq!(a["gatewatch.outcome"], s("ok"));
    assert!(matches!(&a["gatewatch.call_id"], Some(Value::StringValue(id)) if id.len() == 36));
    // The query (with its token) is not in the span; the path is as the record's.
    assert!(!format!("{ok:?}").contains("secret"));

    // A 5xx is an error span; a fresh trace has no parent.
    let failed = by_path("/api/status/503");
    assert_eq!(
        failed.status.as_ref().unwrap().code,
        SpanStatus::Error as i32
    );
    assert!(failed.parent_span_id.is_empty());
    assert_ne!(hex(&failed.trace_id), caller_trace);
    assert_eq!(
        attrs(&failed.attributes)["http.response.status_code"],
        Some(Value::IntValue(503))
    );
    // A refused call is a span too.
    let refused = by_path("/nowhere");
    assert_eq!(refused.name, "GET");
    assert_eq!(
        attrs(&refused.attributes)["gatewatch.outcome"],
        s("no_route")
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_is_away_costs_the_calls_nothing() {
    let up = upstream("a", Arc::new(StreamSignals::default())).await;
    let (col, state) = collector().await;
    let dead = dead_addr().await;
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(col.addr, spool.path());
    let mut o = OtlpConfig::new(format!("http://{dead}/v1/traces"));
    o.flush_interval = Duration::from_millis(50);
    o.queue_capacity = 4;
    o.batch_max_spans = 2;
    o.timeout = Duration::from_millis(200);
    c.otlp = Some(o);
    c.routes = vec![RouteConfig::new("/api", [format!("http://{}", up.addr)])];
    let gw = Gateway::start(c).await;
    let started = Instant::now();
    for _ in 0..50 {
        assert_eq!(gw.get("/api/echo").await.status, 200);
    }
    println!(
        "50 calls with the OTLP receiver away: {} ms",
        started.elapsed().as_millis()
    );
    // Every call is still recorded.
    eventually(10, "50 records", || state.records().len() == 50).await;
    gw.shutdown().await;
}
