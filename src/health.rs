//! `/healthz`, `/readyz` and `/metrics` for roles without an HTTP server of their own
//! (alerter, reports), so their ports answer as DESIGN.md says. A role may add its own metrics
//! text ([`serve_with`]).

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves the health endpoints of `role` on `addr` until Ctrl-C / SIGTERM.
pub async fn serve_role(role: &'static str, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{role}: cannot listen on {addr}"))?;
    tracing::info!(%addr, role, "listening (health and metrics)");
    serve(role, listener, crate::roles::shutdown_signal()).await
}

pub async fn serve(
    role: &'static str,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_with(role, listener, shutdown, None).await
}

/// More Prometheus text for `/metrics`, produced at each scrape.
pub type ExtraMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// [`serve`], with the role's own metrics appended to `/metrics`.
pub async fn serve_with(
    role: &'static str,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    extra: Option<ExtraMetrics>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => a?,
            _ = &mut shutdown => return Ok(()),
        };
        let extra = extra.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let extra = extra.clone();
                async move { Ok::<_, Infallible>(answer(role, req.uri().path(), extra.as_ref())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
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
