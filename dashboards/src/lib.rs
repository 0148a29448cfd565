//! Dashboards: the web UI and the admin API (`/api/v1/`), login, roles and audit.
//!
//! - [`ui`]: the web UI's static files (`dashboards/ui/`), embedded and served at `/` and
//!   `/ui/<file>` with a strict CSP; the app is a client of the admin and report APIs.
//! - [`access`]: the one table of routes and what each needs (public, logged in, or a
//!   [`Permission`]); the middleware in [`auth`] applies it to every request.
//! - [`auth`]: passwords (argon2id), signed session cookies, bearer tokens, CSRF, the
//!   client's address.
//! - [`lockout`]: failed logins counted per (user, address), per address and per account.
//! - [`password_checks`]: at most a few argon2 hashes or checks at once; 429 `busy` beyond.
//! - [`entities`]: list/get/create/replace/delete/history of every entity kind through the
//!   configuration log, with `If-Match` versions.
//! - [`write`]: the shared write path (versions, one change per request, cache reload, audit
//!   rows, reference checks); [`answer`]: what leaves — envelopes with every secret removed.
//! - [`extract`]: the path and query extractors, refusing with the JSON error body.
//! - [`keys`]: API keys, client secrets, rotation, revocation, product grants.
//! - [`scopes`]: the OAuth 2.0 scopes a client may be granted (its own and its approved
//!   products'), read-only (`GET /api/v1/clients/{id}/scopes`).
//! - [`oauth`]: the gateway's OAuth 2.0 signing keys (public parts, rotation) and token
//!   revocation by an admin, as rows of `store::oauth` that every gateway follows.
//! - [`me`]: login, logout, one's own password, tokens and preferences (language, zone).
//! - [`alerts`]: active alerts (`alert_state` + the rules, with their acks) and the alert
//!   timeline (`alert_events`, keyset paged; a rule's acks beside it).
//! - [`acks`]: acknowledging a firing alert's episode and taking it back (`alert_acks`).
//! - [`window_check`]: whether exception windows hold at given instants, for the rule editor.
//! - [`nodes`]: every node seen lately, its newest figures, silent ones first.
//! - [`releases`]: named points of the configuration, their diff, the rollback to one.
//! - [`upstream_health`]: up / degraded / down / idle per upstream host of each API, from
//!   its recent calls (`GET /api/v1/upstreams/health`).
//! - [`diff`]: the per-version changes in `GET /api/v1/<kind>/{id}/history`, secrets hidden.
//! - [`audit`]: audit rows of every change and login; `GET /api/v1/audit`.
//! - [`report_runs`]: `GET /api/v1/report-subscriptions/{id}/runs`, the scheduled mails' record
//!   and the next slot (`next_run`, for the UI).
//! - [`table`]: the configuration cached in memory, reloaded on revision change.
//! - [`tls_cookies`]: on the TLS listener (`[dashboards.tls]`), every cookie is `Secure`.
//! - [`openapi`]: `GET /api/openapi.json`, built from the route table.
//! - [`users`]: `gatewatch user add` and the first admin of a fresh site.
//! - [`preview`]: a draft alert rule's notices rendered with sample values (the alerter's
//!   renderer, `model::alert::template`), for the rule editor.
//! - [`test_send`]: test-sends of channels and rules, forwarded to the alerter's port
//!   (`alerter_url`); no alerter code or credentials live here.

pub mod access;
pub mod acks;
pub mod alerts;
pub mod answer;
pub mod audit;
pub mod auth;
pub mod channel_guard;
pub mod diff;
pub mod doc;
pub mod entities;
pub mod error;
pub mod extract;
pub mod keys;
pub mod lockout;
pub mod me;
pub mod metrics;
pub mod nodes;
pub mod oauth;
pub mod openapi;
pub mod password_checks;
pub mod preview;
pub mod random;
pub mod releases;
pub mod report_runs;
pub mod scopes;
pub mod signing_secret;
pub mod table;
pub mod test_send;
pub mod tls_cookies;
pub mod ui;
pub mod upstream_health;
pub mod users;
pub mod window_check;
pub mod write;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use gatewatch_model::EntityKind;
pub use gatewatch_model::Permission;
use gatewatch_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use error::{ApiError, Error, Result};
pub use users::{add_user, ensure_first_admin};

/// What the dashboards role needs.
#[derive(Clone)]
pub struct DashboardsConfig {
    pub listen: SocketAddr,
    /// The site pepper (see the binary's `secret` module): API keys, client secrets and tokens
    /// are hashed under it, and the session key is derived from it.
    pub pepper: Vec<u8>,
    /// Mark the session cookie `Secure` on the plain listener (behind an HTTPS proxy); the TLS
    /// listener's cookies are `Secure` whatever this says.
    pub secure_cookies: bool,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// The alerter's port, where test-sends go (`http://127.0.0.1:8092`).
    pub alerter_url: String,
    /// The site's IANA zone: a user's times are shown in it unless they chose their own.
    pub site_timezone: String,
    /// A node with no sample for longer is `silent` in `GET /api/v1/nodes` (3 × the gateways'
    /// sample interval).
    pub node_silent_after: Duration,
    /// The alerter's `{{link}}` (`[alerter] link_base`) and its language for rules without
    /// their own: alert-rule previews render with them, as the alerter would.
    pub alert_link_base: String,
    pub alert_language: gatewatch_model::alert::Lang,
    /// Connection cap and read-header timeout of the port (`[dashboards] max_connections`,
    /// `header_read_timeout_ms`; see `gatewatch_listen`).
    pub limits: gatewatch_listen::Limits,
    /// Proxies (CIDR) whose `X-Forwarded-For` names the client, for the login lockout and
    /// audit rows; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Argon2 hashes and checks at once (`[dashboards] max_password_checks`).
    pub max_password_checks: usize,
    /// How long a login waits for one of them before 429 `busy`.
    pub password_check_wait: Duration,
    /// Where webhook channels may point (`[alerter] allowed_networks`, as the alerter reads
    /// it): a URL at a refused address is refused when the channel is saved.
    pub outbound: gatewatch_model::outbound::Policy,
    /// The same site over TLS on its own address (`[dashboards.tls]`), if any: every cookie
    /// set there is `Secure`.
    pub tls: Option<TlsListen>,
    /// `[gateway.oauth] signing_alg` and `token_ttl_secs`: a rotation makes a key for the
    /// algorithm and keeps the retired ones published for the TTL (plus a margin).
    pub oauth_signing_alg: String,
    pub oauth_token_ttl: Duration,
}

/// The dashboards' TLS listener (`[dashboards.tls]`) beside the plain one.
pub use gatewatch_listen::tls::Listen as TlsListen;

impl std::fmt::Debug for DashboardsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardsConfig")
            .field("listen", &self.listen)
            .field("pepper", &"<secret>")
            .field("secure_cookies", &self.secure_cookies)
            .field("session_ttl", &self.session_ttl)
            .field("alerter_url", &self.alerter_url)
            .field("site_timezone", &self.site_timezone)
            .field("node_silent_after", &self.node_silent_after)
            .field("alert_link_base", &self.alert_link_base)
            .field("alert_language", &self.alert_language)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_password_checks", &self.max_password_checks)
            .field("password_check_wait", &self.password_check_wait)
            .field("outbound", &self.outbound)
            .field("tls", &self.tls)
            .field("oauth_signing_alg", &self.oauth_signing_alg)
            .field("oauth_token_ttl", &self.oauth_token_ttl)
            .finish()
    }
}

impl DashboardsConfig {
    pub fn new(listen: SocketAddr, pepper: Vec<u8>) -> DashboardsConfig {
        DashboardsConfig {
            listen,
            pepper,
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            alerter_url: "http://127.0.0.1:8092".into(),
            site_timezone: "Asia/Taipei".into(),
            node_silent_after: Duration::from_secs(30),
            alert_link_base: String::new(),
            alert_language: gatewatch_model::alert::Lang::ZhTw,
            limits: gatewatch_listen::Limits::default(),
            trusted_proxies: Vec::new(),
            max_password_checks: password_checks::DEFAULT_MAX,
            password_check_wait: password_checks::DEFAULT_WAIT,
            outbound: gatewatch_model::outbound::Policy::default(),
            tls: None,
            oauth_signing_alg: gatewatch_model::oauth::keys::ES256.into(),
            oauth_token_ttl: Duration::from_secs(3600),
        }
    }
}

/// Shared by every request.
pub struct AppState {
    pub store: Store,
    pub pepper: Vec<u8>,
    pub config: DashboardsConfig,
    pub cache: Arc<table::Cache>,
    pub sessions: auth::Sessions,
    pub lockout: lockout::Lockout,
    /// Every argon2 hash and check of a request goes through it.
    pub password_checks: password_checks::PasswordChecks,
    pub rules: Vec<access::Rule>,
    /// For forwarding test-sends to the alerter.
    pub http: reqwest::Client,
    /// Held through a signing-key rotation (see [`oauth::rotate`]).
    pub oauth_rotation: tokio::sync::Mutex<()>,
    openapi: String,
    /// Routes of other roles served here (the report API), behind the same role check.
    mounted: Router<Arc<AppState>>,
    /// What `/metrics` renders (see [`metrics`]).
    registry: Arc<gatewatch_listen::metrics::Registry>,
}

/// Routes another role serves through this one (the report API): its router and its rows of
/// the route table, which the role check and the OpenAPI document read like our own.
pub struct Mount {
    pub router: Router<Arc<AppState>>,
    pub rules: Vec<access::Rule>,
    /// The schemas its answers name in the OpenAPI document.
    pub schemas: openapi::Schemas,
}

/// The router of the whole role.
pub fn router(state: Arc<AppState>) -> Router {
    type S = axum::extract::State<Arc<AppState>>;
    type Caller = axum::Extension<auth::Caller>;
    type Id = extract::Path<String>;
    use axum::http::HeaderMap;
    use extract::Body;
    let mut r = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(ui::docs))
        .route("/", get(ui::index))
        .route("/ui/{*file}", get(ui::file))
        .route("/api/v1/login", post(me::login))
        .route("/api/v1/logout", post(me::logout))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/me/password", post(me::change_password))
        .route("/api/v1/me/preferences", put(me::preferences))
        .route("/api/v1/alerts", get(alerts::active))
        .route("/api/v1/alerts/events", get(alerts::events))
        .route("/api/v1/alerts/ack", post(acks::ack))
        .route("/api/v1/alerts/unack", post(acks::unack))
        .route("/api/v1/nodes", get(nodes::list))
        .route(
            "/api/v1/releases",
            get(releases::list).post(releases::create),
        )
        .route("/api/v1/releases/diff", get(releases::diff))
        .route("/api/v1/releases/{name}", get(releases::get))
        .route("/api/v1/releases/{name}/rollback", post(releases::rollback))
        .route("/api/v1/upstreams/health", get(upstream_health::list))
        .route(
            "/api/v1/me/tokens",
            get(me::list_tokens).post(me::create_token),
        )
        .route("/api/v1/me/tokens/{token_id}", delete(me::delete_token));
    for (kind, seg) in access::KINDS {
        let k: EntityKind = kind;
        r = r
            .route(
                &format!("/api/v1/{seg}"),
                get(move |s: S, q| entities::list(k, s, q)).post(
                    move |s: S, c: Caller, h: HeaderMap, Body(b): Body| {
                        entities::create(k, s, c, h, b)
                    },
                ),
            )
            .route(
                &format!("/api/v1/{seg}/{{id}}"),
                get(move |s: S, id: Id| entities::get_one(k, s, id))
                    .put(
                        move |s: S, c: Caller, id: Id, h: HeaderMap, Body(b): Body| {
                            entities::replace(k, s, c, id, h, b)
                        },
                    )
                    .delete(move |s: S, c: Caller, id: Id, h: HeaderMap| {
                        entities::delete(k, s, c, id, h)
                    }),
            )
            .route(
                &format!("/api/v1/{seg}/{{id}}/history"),
                get(move |s: S, id: Id| entities::history(k, s, id)),
            );
    }
    r.route("/api/v1/clients/{id}/keys", post(keys::create_key))
        .route("/api/v1/clients/{id}/secret", post(keys::client_secret))
        .route(
            "/api/v1/clients/{id}/signing-secret",
            post(signing_secret::create),
        )
        .route("/api/v1/clients/{id}/scopes", get(scopes::client_scopes))
        .route("/api/v1/api-keys/{id}/rotate", post(keys::rotate))
        .route("/api/v1/api-keys/{id}/revoke", post(keys::revoke))
        .route("/api/v1/api-keys/{id}/products", post(keys::grant))
        .route(
            "/api/v1/api-keys/{id}/products/{product}/approve",
            post(keys::approve),
        )
        .route(
            "/api/v1/api-keys/{id}/products/{product}/revoke",
            post(keys::revoke_grant),
        )
        .route("/api/v1/oauth/keys", get(oauth::list))
        .route("/api/v1/oauth/keys/rotate", post(oauth::rotate))
        .route(
            "/api/v1/oauth/revocations",
            get(oauth::revocations).post(oauth::revoke),
        )
        .route("/api/v1/audit", get(audit::list))
        .route(
            "/api/v1/report-subscriptions/{id}/runs",
            get(report_runs::list),
        )
        .route("/api/v1/channels/{id}/test", post(test_send::channel))
        .route("/api/v1/alert-rules/{id}/test", post(test_send::rule))
        .route("/api/v1/alert-rules/preview", post(preview::preview))
        .route(
            "/api/v1/alert-rules/windows/check",
            post(window_check::check),
        )
        .merge(state.mounted.clone())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.cache.get().loaded {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "configuration not loaded yet",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (ctype, body) = gatewatch_listen::metrics::render(&state.registry, accept);
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}

async fn openapi_json(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.clone(),
    )
        .into_response()
}

/// The state of a role, loading the configuration once (a failure is logged; the poller
/// keeps trying and `/readyz` says so).
pub async fn state(config: DashboardsConfig, store: Store, mounts: Vec<Mount>) -> Arc<AppState> {
    let cache = Arc::new(table::Cache::new(store.clone()));
    if let Err(e) = cache.refresh(true).await {
        tracing::warn!(error = %e, "cannot load the configuration yet; retrying every second");
    }
    let mut rules = access::rules();
    let mut mounted = Router::new();
    let mut schemas = Vec::new();
    for m in mounts {
        rules.extend(m.rules);
        schemas.extend(m.schemas);
        mounted = mounted.merge(m.router);
    }
    let openapi =
        openapi::to_json(&openapi::document(&rules, schemas)).unwrap_or_else(|_| "{}".into());
    let password_checks = password_checks::PasswordChecks::new(
        config.max_password_checks,
        config.password_check_wait,
    );
    let registry = metrics::registry(cache.clone(), password_checks.figures());
    Arc::new(AppState {
        store,
        pepper: config.pepper.clone(),
        sessions: auth::Sessions::new(&config.pepper),
        lockout: lockout::Lockout::default(),
        password_checks,
        registry: Arc::new(registry),
        config,
        cache,
        rules,
        // The alerter is a sibling on the site's own network: no proxy from the environment,
        // no redirects followed.
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        oauth_rotation: tokio::sync::Mutex::new(()),
        openapi,
        mounted,
    })
}

/// A bound, not yet serving, dashboards role.
pub struct Running {
    listener: tokio::net::TcpListener,
    /// `[dashboards.tls]`: its bound port and certificates.
    tls: Option<(tokio::net::TcpListener, TlsListen)>,
    state: Arc<AppState>,
}

/// Binds the port and loads the configuration.
pub async fn bind(config: DashboardsConfig, store: Store) -> Result<Running> {
    bind_with(config, store, Vec::new()).await
}

/// [`bind`], also serving the routes of `mounts`.
pub async fn bind_with(
    config: DashboardsConfig,
    store: Store,
    mounts: Vec<Mount>,
) -> Result<Running> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
    let tls = match &config.tls {
        None => None,
        Some(t) => Some((
            tokio::net::TcpListener::bind(t.listen)
                .await
                .map_err(|source| Error::Listen {
                    addr: t.listen,
                    source,
                })?,
            t.clone(),
        )),
    };
    let state = state(config, store, mounts).await;
    Ok(Running {
        listener,
        tls,
        state,
    })
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// The TLS listener's address (`[dashboards.tls]`), if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves (both listeners, when there is a TLS one).
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
        let app = router(self.state.clone());
        let limits = self.state.config.limits;
        let tls = async {
            let Some((listener, t)) = self.tls else {
                return;
            };
            tracing::info!(listen = %listener.local_addr().unwrap_or(t.listen), "dashboards TLS listening");
            let reload = tokio::spawn(t.tls.clone().watch(t.reload_interval, stopped()));
            // Every cookie set over TLS is `Secure` (see `tls_cookies`).
            let app = app
                .clone()
                .layer(axum::middleware::map_response(tls_cookies::mark_secure));
            gatewatch_listen::serve_axum_tls(
                "dashboards tls",
                listener,
                limits,
                Arc::default(),
                t.tls,
                app,
                stopped(),
                Duration::from_secs(10),
            )
            .await;
            let _ = reload.await;
        };
        // Handlers read the peer address (`ConnectInfo<SocketAddr>`) for lockout and audit.
        let plain = gatewatch_listen::serve_axum(
            "dashboards",
            self.listener,
            limits,
            Arc::default(),
            app.clone(),
            stopped(),
            Duration::from_secs(10),
        );
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(signal, plain, tls);
        let _ = poller.await;
        Ok(())
    }
}
