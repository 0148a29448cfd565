//! The gateway's own port (`admin_listen`, default `127.0.0.1:8081`): `/healthz`, `/readyz`
//! and `/metrics`, never recorded. They are not on the proxy port, which routes every path:
//! an API may own `/metrics`, and the gateway's figures are not for the public.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::proxy::Shared;

/// The paths the admin port answers.
pub const ADMIN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Connections open at once on the admin port (a few scrapers and probes).
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 256;

/// The admin port's answer to `req`.
pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    listener: Arc<gatewatch_listen::Stats>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(answer(&shared, &listener, req.method(), req.uri().path()))
}

fn answer(
    shared: &Shared,
    listener: &gatewatch_listen::Stats,
    method: &Method,
    path: &str,
) -> Response<Full<Bytes>> {
    let text = "text/plain; charset=utf-8";
    let (status, content_type, body): (StatusCode, &'static str, Bytes) = if !ADMIN_PATHS
        .contains(&path)
    {
        (
            StatusCode::NOT_FOUND,
            text,
            Bytes::from_static(b"the gateway's admin port serves /healthz, /readyz and /metrics\n"),
        )
    } else if !matches!(*method, Method::GET | Method::HEAD) {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            Bytes::from_static(b"use GET\n"),
        )
    } else if path == "/healthz" {
        (StatusCode::OK, text, Bytes::from_static(b"ok\n"))
    } else if path == "/readyz" {
        if shared.metrics.spool_full.load(Ordering::Relaxed) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                Bytes::from_static(
                    b"not ready: the spool is full, call records are being dropped\n",
                ),
            )
        } else {
            (StatusCode::OK, text, Bytes::from_static(b"ready\n"))
        }
    } else {
        let depth = shared.sink.records.max_capacity() - shared.sink.records.capacity();
        let mut body = shared
            .metrics
            .render(depth, shared.queue_capacity, shared.spool_max_bytes);
        let router = shared.router.load();
        let apis = router
            .routes()
            .iter()
            .map(|r| (&*r.api_id, r.upstreams.as_slice()));
        crate::upstream::render_metrics(apis, &mut body);
        listener.render("gatewatch_gateway", &mut body);
        shared.tunnels.render(&mut body);
        (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(body),
        )
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    resp
}
