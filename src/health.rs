//! `/healthz`, `/readyz` and `/metrics` for roles without an HTTP server of their own
//! (alerter, reports), so their ports answer as docs/design.md says. A role may add its own metrics
//! text ([`serve_with`]), and the alerter adds `POST /v1/test-send` ([`gatewatch_alerter::test_send`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;

/// The alerter's test-send endpoint, when this port serves it.
pub type TestSend = Arc<gatewatch_alerter::TestSend>;

/// Largest test-send body read; the real ones are a few dozen bytes.
const BODY_MAX: usize = 16 * 1024;

/// More Prometheus text for `/metrics`, produced at each scrape.
pub type ExtraMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves the health endpoints of `role` until `shutdown`, with the role's own metrics
/// appended to `/metrics` and, on the alerter's port, its test-send; under `limits` (the
/// role's `max_connections` and `header_read_timeout_ms`, see `gatewatch_listen`).
pub async fn serve_with(
    role: &'static str,
    listener: tokio::net::TcpListener,
    limits: gatewatch_listen::Limits,
    shutdown: impl std::future::Future<Output = ()>,
    extra: Option<ExtraMetrics>,
    test_send: Option<TestSend>,
) -> anyhow::Result<()> {
    let make = move |_peer| {
        let extra = extra.clone();
        let test_send = test_send.clone();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let extra = extra.clone();
            let test_send = test_send.clone();
            async move {
                Ok::<_, Infallible>(match test_send {
                    Some(t) if req.uri().path() == "/v1/test-send" => {
                        test_send_answer(&t, req).await
                    }
                    _ => answer(role, req.uri().path(), extra.as_ref()),
                })
            }
        })
    };
    gatewatch_listen::serve(
        role,
        listener,
        limits,
        Arc::default(),
        make,
        shutdown,
        std::time::Duration::from_secs(5),
    )
    .await;
    Ok(())
}

async fn test_send_answer(
    t: &gatewatch_alerter::TestSend,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let json = |status: u16, v: serde_json::Value| {
        let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    };
    if req.method() != hyper::Method::POST {
        return json(
            405,
            serde_json::json!({"error":{"code":"method_not_allowed","message":"test-send takes POST"}}),
        );
    }
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match http_body_util::Limited::new(req.into_body(), BODY_MAX)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return json(
                413,
                serde_json::json!({"error":{"code":"too_large","message":format!("the body is larger than {BODY_MAX} bytes or broken")}}),
            )
        }
    };
    let a = t.handle(auth.as_deref(), &body).await;
    json(a.status, a.body)
}

fn answer(role: &str, path: &str, extra: Option<&ExtraMetrics>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match path {
        "/healthz" | "/readyz" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            format!(
                "# HELP gatewatch_up 1 while the role runs.\n# TYPE gatewatch_up gauge\ngatewatch_up{{role=\"{role}\"}} 1\n{}",
                extra.map(|f| f()).unwrap_or_default()
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            format!("{{\"error\":{{\"code\":\"not_found\",\"message\":\"the {role} role serves /healthz, /readyz and /metrics\"}}}}"),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    r
}
