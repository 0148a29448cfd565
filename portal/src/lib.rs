//! The developer portal: a public site of its own (`[portal] listen`, default
//! `127.0.0.1:8094`) where the people who call a site's APIs find them.
//!
//! This slice serves the catalogue: every API with `portal.published = true`, its category,
//! summary, tags, version and state, a search over name, summary and tags, and one page per
//! API with its description (Markdown, rendered and sanitized: [`markdown`]), the other
//! published versions of its family and the operations of its OpenAPI document
//! ([`openapi`]).
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the catalogue page (the UI shell, `ui/index.html`) |
//! | `GET /apis/{id}` | one API's page (the same shell); 404 unless published |
//! | `GET /ui/{file}` | the UI's files |
//! | `GET /portal-api/apis?q=&category=` | the catalogue as JSON |
//! | `GET /portal-api/apis/{id}` | one API as JSON: description HTML, versions, operations |
//! | `GET /portal-api/apis/{id}/openapi.json` | its OpenAPI document |
//! | `GET /healthz`, `/readyz`, `/metrics` | as on every role |
//!
//! It meets the other roles only in `model`, `store` and ClickHouse: the APIs come from the
//! configuration log ([`catalogue`]), never from another role's process. An unpublished,
//! deleted or unknown id gets the same 404 everywhere. Every answer carries the security
//! headers ([`SECURITY_HEADERS`]).

pub mod catalogue;
pub mod markdown;
pub mod openapi;
pub mod ui;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatewatch_store::Store;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use catalogue::{Cache, Published};

/// What can stop the portal from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the portal role needs.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// `[portal] listen`.
    pub listen: SocketAddr,
    /// `[portal] max_connections`, `header_read_timeout_ms`.
    pub limits: gatewatch_listen::Limits,
}

impl PortalConfig {
    pub fn new(listen: SocketAddr) -> PortalConfig {
        PortalConfig {
            listen,
            limits: gatewatch_listen::Limits::default(),
        }
    }
}

/// The headers on every answer: a strict CSP (no inline script or style, nothing from other
/// origins, no framing), `nosniff`, a same-origin referrer (the dashboards' own).
pub const SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// Shared by every request.
pub struct AppState {
    pub config: PortalConfig,
    pub cache: Arc<Cache>,
    registry: Arc<gatewatch_listen::metrics::Registry>,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The one answer for an API that is not published, whatever the reason.
fn no_such_api() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such API")
}

/// Before the first catalogue load (ClickHouse away at start): not "nothing is published".
fn not_ready() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "the catalogue is not loaded yet; try again in a moment",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

fn bad_path() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_path",
        "the path is not valid (percent-encoding that is not UTF-8)",
    )
}

async fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in SECURITY_HEADERS {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    r
}

/// The router of the role.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/", get(index))
        .route("/apis/{id}", get(api_page))
        .route("/ui/{*file}", get(file))
        .route("/portal-api/apis", get(list))
        .route("/portal-api/apis/{id}", get(one))
        .route("/portal-api/apis/{id}/openapi.json", get(document))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such page") })
        .layer(axum::middleware::map_response(secure))
        .with_state(state)
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if s.cache.get().loaded {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "catalogue not loaded yet").into_response()
    }
}

async fn metrics(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (ctype, body) = gatewatch_listen::metrics::render(&s.registry, accept);
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn shell(headers: &HeaderMap, status: StatusCode) -> Response {
    ui::serve("index.html", headers, status).unwrap_or_else(no_such_api)
}

async fn index(headers: HeaderMap) -> Response {
    shell(&headers, StatusCode::OK)
}

/// The page of a published API: the shell, which reads `/portal-api/apis/{id}`. For any
/// other id the same shell answers 404 (it then shows "not found").
async fn api_page(
    State(s): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(id)) = id else {
        return bad_path();
    };
    let status = if s.cache.get().get(&id).is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    shell(&headers, status)
}

async fn file(file: Result<Path<String>, PathRejection>, headers: HeaderMap) -> Response {
    let Ok(Path(file)) = file else {
        return bad_path();
    };
    ui::serve(&file, &headers, StatusCode::OK)
        .unwrap_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "no such file"))
}

/// `GET /portal-api/apis` parameters.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    /// Words that must all be in the name, summary or tags.
    #[serde(default)]
    pub q: String,
    /// Only this category.
    #[serde(default)]
    pub category: String,
}

async fn list(
    State(s): State<Arc<AppState>>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let Ok(Query(p)) = params else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "the query is not valid (q and category, each once)",
        );
    };
    if p.q.chars().count() > catalogue::MAX_QUERY_CHARS {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"code": "bad_query", "field": "q",
                "message": format!("at most {} characters", catalogue::MAX_QUERY_CHARS)}})),
        )
            .into_response();
    }
    let c = s.cache.get();
    if !c.loaded {
        return not_ready();
    }
    let words = catalogue::words(&p.q);
    let mut hits: Vec<&Published> = c
        .apis
        .values()
        .filter(|a| p.category.is_empty() || a.portal.category == p.category)
        .filter(|a| a.matches(&words))
        .collect();
    // Named for the search first, then by id (the sort is stable).
    hits.sort_by_key(|a| a.rank(&words));
    let apis: Vec<_> = hits.into_iter().map(Published::summary).collect();
    let categories: Vec<_> = c
        .categories()
        .into_iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect();
    Json(json!({
        "apis": apis,
        "total": c.apis.len(),
        "categories": categories,
        "q": p.q,
        "category": p.category,
    }))
    .into_response()
}

async fn one(State(s): State<Arc<AppState>>, id: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(id)) = id else {
        return bad_path();
    };
    let c = s.cache.get();
    if !c.loaded {
        return not_ready();
    }
    let Some(api) = c.get(&id) else {
        return no_such_api();
    };
    let versions: Vec<_> = c
        .versions(api)
        .into_iter()
        .map(Published::summary)
        .collect();
    Json(json!({
        "api": api.summary(),
        "description_html": api.description_html,
        "versions": versions,
        "reference": api.reference,
    }))
    .into_response()
}

async fn document(
    State(s): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(id)) = id else {
        return bad_path();
    };
    let c = s.cache.get();
    if !c.loaded {
        return not_ready();
    }
    let Some(doc) = c.get(&id).and_then(|a| a.portal.openapi.as_ref()) else {
        return no_such_api();
    };
    let disposition = format!("attachment; filename=\"{id}.openapi.json\"");
    let mut r = Json(doc).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// What `/metrics` adds to the role's registry.
struct Figures(Arc<Cache>);

impl std::fmt::Debug for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("portal figures")
    }
}

impl gatewatch_listen::metrics::Collector for Figures {
    fn encode(&self, mut enc: gatewatch_listen::metrics::DescriptorEncoder) -> std::fmt::Result {
        let c = self.0.get();
        // Nothing about the configuration log as a whole (its row count moves with every
        // admin change, of any kind): this `/metrics` is on the public port.
        gatewatch_listen::metrics::gauge(
            &mut enc,
            "gatewatch_portal_published_apis",
            "APIs published on the developer portal.",
            c.apis.len() as u64,
        )
    }
}

/// The state of the role, loading the catalogue once (a failure is logged; the poller keeps
/// trying and `/readyz` says so).
pub async fn state(config: PortalConfig, store: Store) -> Arc<AppState> {
    let cache = Arc::new(Cache::new(store));
    if let Err(e) = cache.refresh(true).await {
        tracing::warn!(error = %e, "cannot load the catalogue yet; retrying every second");
    }
    Arc::new(AppState {
        config,
        registry: registry(&cache),
        cache,
    })
}

/// The role's registry with the portal's figures.
fn registry(cache: &Arc<Cache>) -> Arc<gatewatch_listen::metrics::Registry> {
    let mut registry = gatewatch_listen::metrics::registry("portal");
    registry.register_collector(Box::new(Figures(cache.clone())));
    Arc::new(registry)
}

/// A bound, not yet serving, portal.
pub struct Running {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

/// Binds the port and loads the catalogue.
pub async fn bind(config: PortalConfig, store: Store) -> Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let state = state(config, store).await;
    Ok(Running { listener, state })
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let poller = tokio::spawn(self.state.cache.clone().poll(stopped()));
        let limits = self.state.config.limits;
        let app = router(self.state.clone());
        let plain = gatewatch_listen::serve_axum(
            "portal",
            self.listener,
            limits,
            Arc::default(),
            app,
            stopped(),
            Duration::from_secs(10),
        );
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(signal, plain);
        let _ = poller.await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request};

    /// The router over a catalogue not loaded yet (no ClickHouse is reached).
    fn app() -> Router {
        let store = Store::new(gatewatch_store::StoreConfig::default());
        let cache = Arc::new(Cache::new(store));
        router(Arc::new(AppState {
            config: PortalConfig::new(([127, 0, 0, 1], 0).into()),
            registry: registry(&cache),
            cache,
        }))
    }

    async fn call(method: Method, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut app = app();
        tower_service::Service::call(&mut app, req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn assert_secure(r: &Response) {
        for (k, v) in SECURITY_HEADERS {
            assert_eq!(r.headers()[k], v, "{k}");
        }
    }

    #[tokio::test]
    async fn files_revalidate_to_304_with_the_security_headers() {
        let r = call(Method::GET, "/ui/app.js", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_secure(&r);
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        let r = call(Method::GET, "/ui/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_secure(&r);
        let r = call(Method::HEAD, "/", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], ui::HTML);
    }

    /// `/metrics` is on the public port: it must not tell the internet how the whole
    /// configuration log moves (every admin change, of any kind, published or not).
    #[tokio::test]
    async fn public_metrics_say_nothing_of_the_configuration_log() {
        let r = call(Method::GET, "/metrics", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("gatewatch_portal_published_apis"), "{text}");
        assert!(!text.contains("config"), "{text}");
    }

    #[tokio::test]
    async fn before_the_catalogue_loads_every_api_is_unknown_and_not_ready() {
        assert_eq!(
            call(Method::GET, "/readyz", &[]).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let r = call(Method::GET, "/apis/anything", &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_secure(&r);
        // The shell's 404 is never a 304, whatever the browser holds.
        let r = call(Method::GET, "/apis/anything", &[("if-none-match", "*")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // The JSON says so rather than "nothing is published".
        for uri in [
            "/portal-api/apis",
            "/portal-api/apis/x",
            "/portal-api/apis/x/openapi.json",
        ] {
            let r = call(Method::GET, uri, &[]).await;
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
            assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        }
        let r = call(Method::DELETE, "/portal-api/apis", &[]).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_secure(&r);
    }
}
