//! W3C Trace Context through the running binary: a caller's `traceparent` is continued (the
//! upstream gets the gateway's span as its parent, the caller's `tracestate` untouched), a call
//! without one or with a malformed one starts a fresh trace, a refused call is traced too; the
//! record holds the ids, and call search finds the calls of a trace by its id (422 naming
//! `trace_id` for a value that is not one). With `[gateway] tracing = false` both headers pass
//! through as sent.

use crate::admin::{add_user, Api};
use crate::helpers::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;

const PW: &str = "a long test password";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const STATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/// An upstream that answers with the `traceparent` and `tracestate` lines it received.
async fn trace_echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let lines = |name: &str| -> Vec<String> {
                            req.headers()
                                .get_all(name)
                                .iter()
                                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                                .collect()
                        };
                        let body = serde_json::json!({
                            "traceparent": lines("traceparent"),
                            "tracestate": lines("tracestate"),
                        });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body.to_string()))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Status, `X-Request-Id` and what the upstream saw (null unless it answered).
async fn call(url: &str, headers: &[(&str, &str)]) -> (u16, String, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = Request::get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let seen = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, request_id, seen)
}

/// `(trace id, parent id, flags)` of a version-00 `traceparent`.
fn parts(tp: &str) -> (String, String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "{tp}");
    assert_eq!(p[0], "00", "{tp}");
    assert_eq!((p[1].len(), p[2].len(), p[3].len()), (32, 16, 2), "{tp}");
    (p[1].into(), p[2].into(), p[3].into())
}

/// The one `traceparent` the upstream got.
fn sent(seen: &serde_json::Value) -> String {
    let lines = seen["traceparent"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{seen}");
    lines[0].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_trace_is_continued_recorded_and_found_by_its_id() {
    let up = trace_echo().await;
    let site = Site::new(
        "traces",
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!("[[routes]]\nprefix = \"/t\"\nupstreams = [\"http://{up}\"]\n"),
    );
    let store = site.migrate().await;
    add_user(&site, "root", "admin", PW);
    let mut gateway = site.start("gateway").await;
    let _collector = site.start("collector").await;
    let _dash = site.start("dashboards").await;

    // 1. the caller's trace, continued under a span of the gateway's
    let caller = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let (status, rid_continued, seen) = call(
        &site.url("/t/a"),
        &[("traceparent", &caller), ("tracestate", STATE)],
    )
    .await;
    assert_eq!(status, 200);
    let (trace, gateway_span, flags) = parts(&sent(&seen));
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(
        gateway_span, CALLER_SPAN,
        "the upstream's parent is the gateway"
    );
    assert_eq!(seen["tracestate"], serde_json::json!([STATE]));

    // 2. no traceparent, and 3. a malformed one: a fresh trace each, no tracestate passed on
    let (_, rid_fresh, seen) = call(&site.url("/t/b"), &[]).await;
    let (fresh_trace, fresh_span, fresh_flags) = parts(&sent(&seen));
    assert_ne!(fresh_trace, TRACE);
    assert_eq!(fresh_flags, "01");
    let bad = format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32));
    let (_, rid_bad, seen) = call(
        &site.url("/t/c"),
        &[("traceparent", &bad), ("tracestate", STATE)],
    )
    .await;
    let (bad_trace, _, _) = parts(&sent(&seen));
    assert_ne!(bad_trace, "0".repeat(32));
    assert_ne!(bad_trace, fresh_trace);
    assert_eq!(seen["tracestate"], serde_json::json!([]));

    // 4. refused (no route): traced all the same, under the caller's trace
    let (status, rid_refused, _) = call(&site.url("/nowhere"), &[("traceparent", &caller)]).await;
    assert_eq!(status, 404);

    let db = &site.database;
    eventually(
        &store,
        &format!("SELECT count() FROM {db}.api_calls"),
        4,
        30,
    )
    .await;
    let row = |rid: String| {
        let (url, db) = (site.clickhouse_url.clone(), db.clone());
        async move {
            let q = format!(
                "SELECT trace_id, span_id, parent_span_id FROM {db}.api_calls \
                 WHERE request_id = '{rid}' FORMAT TabSeparated"
            );
            let text = reqwest::Client::new()
                .post(url)
                .body(q)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let v: Vec<String> = text
                .trim_end_matches('\n')
                .split('\t')
                .map(str::to_string)
                .collect();
            assert_eq!(v.len(), 3, "{rid}: {text:?}");
            (v[0].clone(), v[1].clone(), v[2].clone())
        }
    };
    assert_eq!(
        row(rid_continued.clone()).await,
        (TRACE.into(), gateway_span.clone(), CALLER_SPAN.into())
    );
    assert_eq!(
        row(rid_fresh.clone()).await,
        (fresh_trace.clone(), fresh_span.clone(), String::new())
    );
    assert_eq!(
        row(rid_bad).await.2,
        "",
        "a malformed traceparent names no parent"
    );
    let (refused_trace, refused_span, refused_parent) = row(rid_refused.clone()).await;
    assert_eq!(
        (refused_trace.as_str(), refused_parent.as_str()),
        (TRACE, CALLER_SPAN)
    );
    assert_eq!(refused_span.len(), 16);

    // Search by trace id: the two calls of the caller's trace, in either case.
    let admin = Api::login(site.dashboards, "root", PW).await;
    for asked in [TRACE.to_string(), TRACE.to_uppercase()] {
        let a = admin
            .call(
                "GET",
                &format!("/api/v1/reports/calls?range=1h&trace_id={asked}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let mut found: Vec<&str> = a.body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["request_id"].as_str().unwrap())
            .collect();
        found.sort();
        let mut want = vec![rid_continued.as_str(), rid_refused.as_str()];
        want.sort();
        assert_eq!(found, want, "{}", a.text);
    }
    let a = admin
        .call(
            "GET",
            &format!("/api/v1/reports/calls?range=1h&trace_id={fresh_trace}"),
            None,
            &[],
        )
        .await;
    assert_eq!(a.body["rows"].as_array().unwrap().len(), 1, "{}", a.text);
    // The call's detail shows its three ids.
    let id = a.body["rows"][0]["call_id"].as_str().unwrap().to_string();
    let d = admin
        .call("GET", &format!("/api/v1/reports/calls/{id}"), None, &[])
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.body["trace_id"], fresh_trace.as_str());
    assert_eq!(d.body["span_id"], fresh_span.as_str());
    assert_eq!(d.body["parent_span_id"], "");
    // Not a trace id: 422 naming the field.
    for bad in [
        "4bf92f3577b34da6",
        "00000000000000000000000000000000",
        "4bf92f3577b34da6a3ce929d0e0e473g",
        "%27%20OR%201%3D1%20--",
    ] {
        let a = admin
            .call(
                "GET",
                &format!("/api/v1/reports/calls?range=1h&trace_id={bad}"),
                None,
                &[],
            )
            .await;
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
        assert_eq!(a.body["error"]["field"], "trace_id", "{}", a.text);
    }

    // Tracing off: both headers pass through as sent, and no ids are recorded.
    gateway.terminate();
    site.tune("gateway", "tracing = false");
    let _gateway = site.start("gateway").await;
    let (_, rid_off, seen) = call(
        &site.url("/t/d"),
        &[("traceparent", &caller), ("tracestate", STATE)],
    )
    .await;
    assert_eq!(sent(&seen), caller);
    assert_eq!(seen["tracestate"], serde_json::json!([STATE]));
    let (_, _, seen) = call(&site.url("/t/e"), &[]).await;
    assert_eq!(seen["traceparent"], serde_json::json!([]));
    eventually(
        &store,
        &format!("SELECT count() FROM {db}.api_calls"),
        6,
        30,
    )
    .await;
    assert_eq!(
        row(rid_off).await,
        (String::new(), String::new(), String::new())
    );
}
