//! `/healthz`, `/readyz` and `/metrics` for roles without an HTTP server of their own
//! (alerter, reports), so their ports answer as docs/design.md says. A role brings its
//! registry (`gatewatch_listen::metrics::registry` and its own collector) and its readiness
//! ([`Health`]); the alerter adds `POST /v1/test-send` ([`gatewatch_alerter::test_send`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;

/// The alerter's test-send endpoint, when this port serves it.
pub type TestSend = Arc<gatewatch_alerter::TestSend>;

/// Largest test-send body read; the real ones are a few dozen bytes.
const BODY_MAX: usize = 16 * 1024;

/// `Ok` when the role can do its work, else why not (the text of `/readyz`'s 503).
pub type Ready = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What a role's port shows of it: its registry for `/metrics`, its readiness for `/readyz`.
#[derive(Clone)]
pub struct Health {
    pub registry: Arc<gatewatch_listen::metrics::Registry>,
    pub ready: Ready,
}

impl Health {
    /// The alerter's: its figures, ready as [`gatewatch_alerter::Metrics::readiness`] says.
    pub fn alerter(m: Arc<gatewatch_alerter::Metrics>) -> Health {
        let mut r = gatewatch_listen::metrics::registry("alerter");
        r.register_collector(Box::new(gatewatch_alerter::metrics::Figures(m.clone())));
        Health {
            registry: Arc::new(r),
            ready: Arc::new(move || m.readiness()),
        }
    }

    /// The reports scheduler's: ready while its loop ticks (every `poll`).
    pub fn reports(
        m: Arc<gatewatch_reports::schedule::Metrics>,
        poll: std::time::Duration,
    ) -> Health {
        let mut r = gatewatch_listen::metrics::registry("reports");
        r.register_collector(Box::new(gatewatch_reports::schedule::Figures(m.clone())));
        Health {
            registry: Arc::new(r),
            ready: Arc::new(move || m.readiness(poll)),
        }
    }
}

/// Serves the health endpoints of `role` until `shutdown` (`/metrics` from `health`'s
/// registry, `/readyz` from its readiness) and, on the alerter's port, its test-send; under
/// `limits` (the role's `max_connections` and `header_read_timeout_ms`, see
/// `gatewatch_listen`).
pub async fn serve_with(
    role: &'static str,
    listener: tokio::net::TcpListener,
    limits: gatewatch_listen::Limits,
    shutdown: impl std::future::Future<Output = ()>,
    health: Health,
    test_send: Option<TestSend>,
) -> anyhow::Result<()> {
    let make = move |_peer| {
        let health = health.clone();
        let test_send = test_send.clone();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let health = health.clone();
            let test_send = test_send.clone();
            async move {
                Ok::<_, Infallible>(match test_send {
                    Some(t) if req.uri().path() == "/v1/test-send" => {
                        test_send_answer(&t, req).await
                    }
                    _ => {
                        let accept = req
                            .headers()
                            .get(hyper::header::ACCEPT)
                            .and_then(|v| v.to_str().ok());
                        answer(role, req.uri().path(), accept, &health)
                    }
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

fn answer(role: &str, path: &str, accept: Option<&str>, health: &Health) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match path {
        "/healthz" => (StatusCode::OK, "text/plain", "ok".to_string()),
        "/readyz" => match (health.ready)() {
            Ok(()) => (StatusCode::OK, "text/plain", "ok".to_string()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", why),
        },
        "/metrics" => {
            let (ctype, body) = gatewatch_listen::metrics::render(&health.registry, accept);
            (StatusCode::OK, ctype, body)
        }
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
