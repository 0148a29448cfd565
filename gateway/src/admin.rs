//! The gateway's own port (`admin_listen`, default `127.0.0.1:8081`): `/healthz`, `/readyz`
//! and `/metrics`, never recorded. They are not on the proxy port, which routes every path:
//! an API may own `/metrics`, and the gateway's figures are not for the public. `/metrics` is
//! the gateway's registry ([`registry`]) in Prometheus text (OpenMetrics when asked).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use gatewatch_listen::metrics::{Collector, DescriptorEncoder, Registry};

use crate::proxy::Shared;

/// The paths the admin port answers.
pub const ADMIN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Connections open at once on the admin port (a few scrapers and probes).
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 256;

/// The gateway's registry: the role's common series (`gatewatch_listen::metrics::registry`)
/// and [`Figures`], read at each scrape.
pub(crate) fn registry(shared: Arc<Shared>, listener: Arc<gatewatch_listen::Stats>) -> Registry {
    let mut r = gatewatch_listen::metrics::registry("gateway");
    r.register_collector(Box::new(Figures { shared, listener }));
    r
}

/// What the gateway shows of itself: its counters, the per-API series, the upstreams, the
/// proxy listener's connections and the tunnels.
struct Figures {
    shared: Arc<Shared>,
    listener: Arc<gatewatch_listen::Stats>,
}

impl std::fmt::Debug for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("gateway figures")
    }
}

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let shared = &self.shared;
        let depth = shared.sink.records.max_capacity() - shared.sink.records.capacity();
        shared.metrics.encode(
            &mut enc,
            depth,
            shared.queue_capacity,
            shared.spool_max_bytes,
        )?;
        let router = shared.router.load();
        // One series per API id (a file route and a log API cannot share an id, but a
        // duplicate would make the exposition invalid), then the calls of no API.
        let mut seen = std::collections::HashSet::new();
        let mut apis: Vec<(&str, &crate::metrics::ApiSeries)> = router
            .routes()
            .iter()
            .filter(|r| seen.insert(r.api_id.as_str()))
            .map(|r| (r.api_id.as_str(), &*r.series))
            .collect();
        apis.push((UNMATCHED, &shared.metrics.unmatched));
        crate::metrics::encode_apis(&mut enc, &apis)?;
        let upstreams = router
            .routes()
            .iter()
            .map(|r| (&*r.api_id, r.upstreams.as_slice()));
        crate::upstream::encode_metrics(upstreams, &mut enc)?;
        self.listener.encode("gatewatch_gateway", &mut enc)?;
        shared.tunnels.encode(&mut enc)
    }
}

/// The `api` label of calls no API's route took (not a valid API id: ids have no brackets).
pub const UNMATCHED: &str = "(none)";

/// The admin port's answer to `req`.
pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    Ok(answer(
        &shared,
        &registry,
        req.method(),
        req.uri().path(),
        accept,
    ))
}

fn answer(
    shared: &Shared,
    registry: &Registry,
    method: &Method,
    path: &str,
    accept: Option<&str>,
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
        } else if shared.metrics.journal_full.load(Ordering::Relaxed) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                Bytes::from_static(
                    b"not ready: the journal is full, call records are not crash-safe\n",
                ),
            )
        } else {
            (StatusCode::OK, text, Bytes::from_static(b"ready\n"))
        }
    } else {
        let (ctype, body) = gatewatch_listen::metrics::render(registry, accept);
        (StatusCode::OK, ctype, Bytes::from(body))
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
