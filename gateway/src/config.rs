//! What a gateway is told: [`GatewayConfig`] and its [`RouteConfig`]s, with defaults and the
//! checks that turn them into the validated form the proxy runs on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use crate::access::auth::{JwtKey, JwtVerifier};
use crate::access::priority::GateConfig;
use crate::access::Settings;
use crate::error::{Error, Result};
pub use crate::route::RouteConfig;
use crate::route::Router;
use crate::upstream::tls::SiteTrust;
use crate::upstream::Clients;

/// The default listen address of the proxy.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
/// Default cap of the spool directory: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
/// Default capacity of the in-memory record queue.
pub const DEFAULT_QUEUE_CAPACITY: usize = 100_000;
/// Default largest batch.
pub const DEFAULT_BATCH_MAX_RECORDS: usize = 5_000;
/// The default address of the gateway's own `/healthz`, `/readyz` and `/metrics`.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
/// Default largest batch in bytes of uncompressed NDJSON: 8 MiB, a quarter of the
/// collector's default `max_body_mb` (32) even if nothing compressed.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 8 << 20;
/// Smallest `batch_max_bytes` allowed: a record at its caps (see the crate doc) must fit.
pub const MIN_BATCH_MAX_BYTES: usize = 1 << 20;
/// Most entries of `collector_urls`: failing over through more than this many would mean a
/// batch waits through that many timeouts, and a site with more collectors puts a load
/// balancer in front of them.
pub const MAX_COLLECTORS: usize = 16;

/// How a gateway ranks the collectors of `collector_urls` (`[gateway] collector_order`).
/// Either way it sends to the first of its ranking that answers, fails over down the ranking
/// and returns to a better one once it answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CollectorOrder {
    /// Each gateway ranks the collectors by a hash of its node name and their URLs
    /// (rendezvous hashing): gateways sharing one configuration file spread over the
    /// collectors, and when one collector fails its gateways spread over the others.
    #[default]
    Spread,
    /// As listed: the first is every gateway's primary, the next ones stand by.
    Listed,
}

impl std::str::FromStr for CollectorOrder {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "spread" => Ok(CollectorOrder::Spread),
            "listed" => Ok(CollectorOrder::Listed),
            other => Err(format!("{other:?} must be \"spread\" or \"listed\"")),
        }
    }
}

/// Everything a gateway needs to run. Build it with [`GatewayConfig::new`] and change the
/// fields that differ from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Address the proxy listens on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Address of the gateway's own `/healthz`, `/readyz` and `/metrics` (default
    /// `127.0.0.1:8081`; port 0 picks a free port). Never on the proxy port, which routes
    /// every path.
    pub admin_listen: SocketAddr,
    /// Client connections open at once on the proxy port; more are closed as they are
    /// accepted (default 10 000; see `gatewatch_listen`).
    pub max_connections: usize,
    /// Time a client has to send a request head, on the proxy and the admin port; also how
    /// long a kept-alive connection may sit idle (default 10 s).
    pub header_read_timeout: Duration,
    /// Node name written into every record and sample (the binary passes the host name).
    pub node: String,
    /// The file's APIs, routed as `{prefix}/**` (the most specific pattern wins, so the
    /// longest prefix does; see the crate doc).
    pub routes: Vec<RouteConfig>,
    /// Base URL of the collector, `http://host:port[/base]` or `https://…`; records go to
    /// `{collector_url}/v1/records`, samples to `{collector_url}/v1/node-samples`.
    pub collector_url: String,
    /// Several collectors (`[gateway] collector_urls`), each like `collector_url`; when not
    /// empty it replaces `collector_url`. The sender uses one at a time and fails over to the
    /// next (see `ship.rs`); at most [`MAX_COLLECTORS`], no two alike.
    pub collector_urls: Vec<String>,
    /// Which collector of `collector_urls` a gateway prefers (see [`CollectorOrder`]).
    pub collector_order: CollectorOrder,
    /// PEM file of the CA certificates that sign an `https://` collector's certificate,
    /// trusted beside the system's roots (read when the gateway starts); only with an
    /// `https://` collector.
    pub collector_ca_file: Option<PathBuf>,
    /// Where batches wait while the collector is away (`<data_dir>/spool`).
    pub spool_dir: PathBuf,
    /// Cap of the spool's files in bytes; a batch that would pass it is dropped and counted.
    pub spool_max_bytes: u64,
    /// Where each call's record is journalled when the call ends (`<spool_dir>/journal`; see
    /// `journal.rs`).
    pub journal_dir: PathBuf,
    /// Cap of the journal's segments in bytes; 0 turns the journal off (`journal_max_mb`).
    pub journal_max_bytes: u64,
    /// When the journal is synced to the disk (`journal_fsync`).
    pub journal_fsync: crate::journal::JournalFsync,
    /// Capacity of the in-memory record queue between the proxy and the shipper.
    pub queue_capacity: usize,
    /// Most records in one batch.
    pub batch_max_records: usize,
    /// Most bytes of uncompressed NDJSON in one batch (default 8 MiB, at least 1 MiB); keep it
    /// below the collector's `max_body_mb` (what is sent is compressed, so well below).
    pub batch_max_bytes: usize,
    /// A batch is sent at least this often when records are waiting.
    pub flush_interval: Duration,
    /// Node sampling period; `Duration::ZERO` turns the sampler off.
    pub sample_interval: Duration,
    /// Time allowed to open a TCP connection to an upstream (then 502); an API's
    /// `connect_timeout_ms` overrides it.
    pub upstream_connect_timeout: Duration,
    /// Time allowed from sending the request to the upstream's response head, per attempt
    /// (then 504); an API's `timeout_ms` overrides it.
    pub upstream_timeout: Duration,
    /// CA certificates (PEM files) trusted for every `https://` upstream besides the system's
    /// roots; read when the gateway starts.
    pub upstream_ca_files: Vec<PathBuf>,
    /// Time allowed for one POST of a batch to the collector (connect to response end).
    pub collector_timeout: Duration,
    /// The collector's ingest token, sent as `Authorization: Bearer` with every batch (the
    /// binary passes `[security] ingest_token` or the one derived from the site pepper). Empty:
    /// none is sent, and a collector answers 401 (the batches wait in the spool).
    pub ingest_token: String,
    /// On shutdown, how long in-flight calls may take to finish before the gateway stops
    /// waiting for them.
    pub drain_timeout: Duration,
    /// An upgraded connection (WebSocket...) with no byte either way for this long is closed
    /// (default 5 minutes). Tunnels also close when the gateway shuts down.
    pub upgrade_idle_timeout: Duration,
    /// Where the configuration log is (APIs registered through the admin API); `None`: only
    /// `routes` are served.
    pub config_store: Option<gatewatch_store::StoreConfig>,
    /// Where the last configuration loaded is kept, so the gateway starts and serves when
    /// ClickHouse is down (`<data_dir>/snapshot`).
    pub snapshot_dir: Option<PathBuf>,
    /// How often the configuration log is polled for changes.
    pub config_poll: Duration,
    /// The site's secret pepper: API keys and client secrets are looked up by their
    /// HMAC-SHA256 under it (`gatewatch_model::secret`). Empty in tests only.
    pub pepper: Arc<[u8]>,
    /// Keys that sign the JWTs accepted by APIs with `auth = ["jwt"]`.
    pub jwt: Vec<JwtKey>,
    /// The JWT claim naming the client id (default `sub`).
    pub jwt_client_claim: String,
    /// Clock skew allowed on a JWT's `exp` and `nbf` (default 30 s).
    pub jwt_leeway: Duration,
    /// When set, a JWT's `iss` must equal it (else 401 `invalid_credentials`).
    pub jwt_issuer: Option<String>,
    /// When set, a JWT's `aud` (a string or an array) must hold it (else 401
    /// `invalid_credentials`).
    pub jwt_audience: Option<String>,
    /// Site zone: validity dates, service hours and quota windows of clients without their own.
    pub timezone: chrono_tz::Tz,
    /// Proxies (CIDR blocks) whose `X-Forwarded-For` is believed for the client's address;
    /// empty: the TCP peer address is the client's.
    pub trusted_proxies: Vec<String>,
    /// Addresses and CIDR blocks refused on every API, before authentication (403
    /// `ip_denied`, outcome `refused_ip`); the address read as for `trusted_proxies`.
    pub ip_deny: Vec<String>,
    /// The VIP admission gate in front of the upstreams (see `access::priority`).
    pub gate: GateConfig,
    /// How often shared-scope quota counts are read from ClickHouse.
    pub quota_sync: Duration,
    /// The header that tells the upstream which client called (default
    /// [`DEFAULT_CLIENT_HEADER`]); set by the gateway only, a client's own copy is removed.
    pub client_header: String,
    /// The TLS listener beside the plain one (`[gateway.tls]`), if any.
    pub tls: Option<TlsListen>,
    /// The OAuth 2.0 authorization server and the token issuers trusted (`[gateway.oauth]`).
    pub oauth: OauthConfig,
    /// W3C Trace Context per call (default on): the caller's `traceparent` continued or a
    /// trace started, the gateway's span forwarded and recorded. Off: `traceparent` and
    /// `tracestate` pass through untouched and records carry no trace ids.
    pub tracing: bool,
    /// OTLP/HTTP export of one span per call (`[gateway.otlp]`); `None`: off.
    pub otlp: Option<crate::trace_otlp::OtlpConfig>,
    /// The node groups this gateway is in (`[gateway] node_groups`, default `["default"]`):
    /// it routes the APIs bound to one of them and those bound to none.
    pub node_groups: Vec<String>,
}

/// `[gateway.oauth]`: the gateway's own authorization server (token endpoint, JWKS,
/// introspection, revocation on the proxy's port) and the other issuers whose access tokens
/// APIs with `auth = ["oauth2"]` accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthConfig {
    /// The `iss` of the tokens the gateway issues and the base of its endpoints' URLs in the
    /// metadata (`https://gw.example.com`); `None`: `http://<listen>`.
    pub issuer: Option<String>,
    /// The `aud` of the tokens the gateway issues (and requires of them); `None`: the issuer.
    pub audience: Option<String>,
    /// Lifetime of an issued access token.
    pub token_ttl: Duration,
    /// `ES256` or `RS256`: the algorithm of new signing keys.
    pub signing_alg: String,
    /// Other issuers whose tokens are accepted (`[[gateway.oauth.trusted_issuers]]`).
    pub trusted_issuers: Vec<TrustedIssuer>,
}

impl Default for OauthConfig {
    fn default() -> Self {
        OauthConfig {
            issuer: None,
            audience: None,
            token_ttl: Duration::from_secs(3600),
            signing_alg: "ES256".into(),
            trusted_issuers: Vec::new(),
        }
    }
}

/// Shortest and longest `token_ttl`, in seconds.
pub const TOKEN_TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;

impl OauthConfig {
    /// The authorization server's own settings (the trusted issuers are checked apart):
    /// `issuer` an `http(s)://` URL without query or fragment, `token_ttl` 60 s to a day,
    /// `signing_alg` one gatewatch makes keys for. Fields are named `oauth.<key>`.
    pub fn check(&self) -> Result<()> {
        if let Some(issuer) = &self.issuer {
            check_issuer_url(issuer).map_err(|m| Error::config("oauth.issuer", m))?;
        }
        if let Some(aud) = &self.audience {
            if aud.len() > 512 || aud.chars().any(char::is_control) {
                return Err(Error::config(
                    "oauth.audience",
                    "must be at most 512 characters, without control characters",
                ));
            }
        }
        let ttl = self.token_ttl.as_secs();
        if !TOKEN_TTL_RANGE.contains(&ttl) || self.token_ttl.subsec_nanos() != 0 {
            return Err(Error::config(
                "oauth.token_ttl_secs",
                format!(
                    "must be {} to {} seconds (got {ttl})",
                    TOKEN_TTL_RANGE.start(),
                    TOKEN_TTL_RANGE.end()
                ),
            ));
        }
        let algs = gatewatch_model::oauth::keys::SIGNING_ALGS;
        if !algs.contains(&self.signing_alg.as_str()) {
            let why = if self.signing_alg == "RS256" {
                " (RS256 keys are not made by gatewatch)"
            } else {
                ""
            };
            return Err(Error::config(
                "oauth.signing_alg",
                format!(
                    "{:?} is not supported{why}; use one of {}",
                    self.signing_alg,
                    algs.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// An issuer identifier (RFC 8414 §2): `http://` or `https://`, a host, no query, no
/// fragment, no spaces.
fn check_issuer_url(issuer: &str) -> std::result::Result<(), String> {
    if issuer.contains(['?', '#']) || issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "'{issuer}' must be a URL without query, fragment or spaces"
        ));
    }
    let uri: Uri = issuer
        .parse()
        .map_err(|e| format!("'{issuer}' is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!(
            "'{issuer}' must look like https://host[:port][/path] (or http://)"
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!("'{issuer}' must not carry user information"));
    }
    Ok(())
}

/// An external identity provider whose access tokens are verified against its JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Its tokens' `iss`, exactly.
    pub issuer: String,
    /// Where its public keys are published (fetched, cached, refreshed on an unknown `kid`).
    pub jwks_uri: String,
    /// What its tokens' `aud` must hold.
    pub audience: String,
}

/// The gateway's TLS listener (`[gateway.tls]`): same routes, limits and records as the
/// plain one; only the transport differs.
pub use gatewatch_listen::tls::Listen as TlsListen;

/// The default name of the header carrying the caller's client id upstream.
pub const DEFAULT_CLIENT_HEADER: &str = "X-Gatewatch-Client";

/// Headers the gateway sets or reads itself: none can be the client header.
const NOT_CLIENT_HEADERS: [&str; 12] = [
    "host",
    "authorization",
    "x-api-key",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "cookie",
];

/// The client header's name, checked: a valid header name that the gateway does not use for
/// anything else and that is not hop-by-hop.
fn client_header(name: &str) -> Result<http::HeaderName> {
    let bad = |m: String| Error::config("client_header", m);
    let h = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| bad(format!("'{name}' is not a header name")))?;
    let mut probe = http::HeaderMap::new();
    probe.insert(h.clone(), http::HeaderValue::from_static("x"));
    crate::headers::strip_hop_by_hop(&mut probe);
    if NOT_CLIENT_HEADERS.contains(&h.as_str()) || probe.is_empty() {
        return Err(bad(format!(
            "'{name}' is a header the gateway or HTTP uses for something else"
        )));
    }
    Ok(h)
}

impl GatewayConfig {
    /// A configuration with no routes and the defaults for everything else.
    pub fn new(
        listen: SocketAddr,
        node: impl Into<String>,
        collector_url: impl Into<String>,
        spool_dir: impl Into<PathBuf>,
    ) -> GatewayConfig {
        let spool_dir: PathBuf = spool_dir.into();
        GatewayConfig {
            listen,
            admin_listen: DEFAULT_ADMIN_LISTEN,
            max_connections: gatewatch_listen::DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: gatewatch_listen::DEFAULT_HEADER_READ_TIMEOUT,
            node: node.into(),
            routes: Vec::new(),
            collector_url: collector_url.into(),
            collector_urls: Vec::new(),
            collector_order: CollectorOrder::default(),
            collector_ca_file: None,
            journal_dir: spool_dir.join("journal"),
            spool_dir,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            journal_max_bytes: crate::journal::DEFAULT_JOURNAL_MAX_BYTES,
            journal_fsync: crate::journal::JournalFsync::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_max_records: DEFAULT_BATCH_MAX_RECORDS,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            flush_interval: Duration::from_secs(1),
            sample_interval: Duration::from_secs(10),
            upstream_connect_timeout: Duration::from_secs(3),
            upstream_ca_files: Vec::new(),
            upstream_timeout: Duration::from_secs(30),
            collector_timeout: Duration::from_secs(10),
            ingest_token: String::new(),
            drain_timeout: Duration::from_secs(10),
            upgrade_idle_timeout: crate::tunnel::DEFAULT_IDLE_TIMEOUT,
            config_store: None,
            snapshot_dir: None,
            config_poll: Duration::from_secs(1),
            pepper: Arc::from(Vec::new()),
            jwt: Vec::new(),
            jwt_client_claim: "sub".into(),
            jwt_leeway: Duration::from_secs(30),
            jwt_issuer: None,
            jwt_audience: None,
            timezone: chrono_tz::Asia::Taipei,
            trusted_proxies: Vec::new(),
            ip_deny: Vec::new(),
            gate: GateConfig::default(),
            quota_sync: Duration::from_secs(1),
            client_header: DEFAULT_CLIENT_HEADER.into(),
            tls: None,
            oauth: OauthConfig::default(),
            tracing: true,
            otlp: None,
            node_groups: vec![gatewatch_model::node::DEFAULT_GROUP.into()],
        }
    }

    /// Checks every value without starting anything, so a caller can report a bad
    /// configuration (and exit with its own code) before binding ports. [`crate::bind`] runs
    /// the same checks.
    pub fn check(&self) -> Result<()> {
        self.validate().map(|_| ())
    }

    /// Checks every value and builds the router and the collector's URIs.
    pub(crate) fn validate(&self) -> Result<Validated> {
        if self.node.trim().is_empty() {
            return Err(Error::config("node", "must not be empty"));
        }
        if self.queue_capacity == 0 {
            return Err(Error::config("queue_capacity", "must be at least 1"));
        }
        if self.batch_max_records == 0 {
            return Err(Error::config("batch_max_records", "must be at least 1"));
        }
        if self.batch_max_bytes < MIN_BATCH_MAX_BYTES {
            return Err(Error::config(
                "batch_max_bytes",
                format!("must be at least {MIN_BATCH_MAX_BYTES} (1 MiB)"),
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::config("max_connections", "must be at least 1"));
        }
        if self.admin_listen == self.listen && self.listen.port() != 0 {
            return Err(Error::config(
                "admin_listen",
                format!("must differ from listen ({})", self.listen),
            ));
        }
        for (field, d) in [
            ("flush_interval", self.flush_interval),
            ("upstream_connect_timeout", self.upstream_connect_timeout),
            ("upstream_timeout", self.upstream_timeout),
            ("collector_timeout", self.collector_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("upgrade_idle_timeout", self.upgrade_idle_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(field, "must be longer than zero"));
            }
        }
        if self.gate.max_inflight == 0 {
            return Err(Error::config("gate.max_inflight", "must be at least 1"));
        }
        if self.quota_sync.is_zero() {
            return Err(Error::config("quota_sync", "must be longer than zero"));
        }
        self.oauth.check()?;
        let mut trusted_proxies = Vec::with_capacity(self.trusted_proxies.len());
        for (i, c) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(
                gatewatch_model::client::parse_cidr(c)
                    .map_err(|m| Error::config(format!("trusted_proxies[{i}]"), m))?,
            );
        }
        gatewatch_model::policy::check_deny_list("ip_deny", &self.ip_deny)
            .map_err(|e| Error::config(e.field, e.message))?;
        let ip_deny = self
            .ip_deny
            .iter()
            .filter_map(|c| gatewatch_model::client::parse_cidr(c).ok())
            .collect();
        let jwt = JwtVerifier::new(&self.jwt, &self.jwt_client_claim, self.jwt_leeway)
            .map_err(|(field, message)| Error::config(field, message))?
            .with_issuer_audience(self.jwt_issuer.as_deref(), self.jwt_audience.as_deref());
        let base = self.collector_url.trim_end_matches('/');
        if !self.ingest_token.is_empty()
            && http::HeaderValue::from_str(&format!("Bearer {}", self.ingest_token)).is_err()
        {
            return Err(Error::config(
                "ingest_token",
                "must be visible ASCII (it is sent in an HTTP header)",
            ));
        }
        let collectors = self.collectors()?;
        if self.collector_ca_file.is_some()
            && !collectors
                .iter()
                .any(|c| c.records_uri.scheme_str() == Some("https"))
        {
            let (field, base) = match self.collector_urls.is_empty() {
                true => ("collector_url", base.to_string()),
                false => ("collector_urls", self.collector_urls.join(", ")),
            };
            return Err(Error::config(
                "collector_ca_file",
                format!("is set but {field} '{base}' is not https:// (nothing would be checked)"),
            ));
        }
        let collector_tls =
            crate::upstream::tls::collector_config(self.collector_ca_file.as_deref())
                .map_err(|m| Error::config("collector_ca_file", m))?;
        let client_header = client_header(&self.client_header)?;
        let trust = SiteTrust::load(&self.upstream_ca_files)
            .map_err(|(i, m)| Error::config(format!("upstream_ca_files[{i}]"), m))?;
        // bearer: the trusted issuers' JWKS clients (fetched once the gateway runs).
        let trusted = crate::access::bearer::trusted_issuers(&self.oauth, &trust)?;
        let clients = Clients::new(self.upstream_connect_timeout).with_trust(trust);
        let otlp_endpoint = self.otlp.as_ref().map(|o| o.check()).transpose()?;
        Ok(Validated {
            otlp_endpoint,
            client_header,
            ip_deny,
            router: Router::with_clients(&self.routes, &clients)?,
            clients,
            collectors,
            collector_tls,
            access: Settings {
                pepper: self.pepper.clone(),
                jwt,
                site_tz: self.timezone,
                trusted_proxies,
                gate: self.gate,
                own_issuer: None,
                trusted_issuers: trusted,
            },
        })
    }
}

impl GatewayConfig {
    /// The collectors' endpoints, in the order configured: `collector_urls`, or else
    /// `collector_url` alone. Each must be `http(s)://host[:port][/base]` without user
    /// information (the URL is a metric label and a log field), no two the same, one to
    /// [`MAX_COLLECTORS`] of them.
    fn collectors(&self) -> Result<Vec<CollectorEndpoint>> {
        if self.collector_urls.is_empty() {
            return Ok(vec![CollectorEndpoint::new(
                "collector_url",
                &self.collector_url,
            )?]);
        }
        if self.collector_urls.len() > MAX_COLLECTORS {
            return Err(Error::config(
                "collector_urls",
                format!(
                    "lists {} collectors; at most {MAX_COLLECTORS} (put a load balancer in front of more)",
                    self.collector_urls.len()
                ),
            ));
        }
        let mut out: Vec<CollectorEndpoint> = Vec::with_capacity(self.collector_urls.len());
        for (i, url) in self.collector_urls.iter().enumerate() {
            let field = format!("collector_urls[{i}]");
            let c = CollectorEndpoint::new(&field, url)?;
            if let Some(j) = out.iter().position(|o| o.base == c.base) {
                return Err(Error::config(
                    field,
                    format!("'{}' is listed twice (also collector_urls[{j}])", c.base),
                ));
            }
            out.push(c);
        }
        Ok(out)
    }
}

/// One collector's URLs.
#[derive(Debug, Clone)]
pub(crate) struct CollectorEndpoint {
    /// The base URL without a trailing `/`: its name in logs and the `collector` label.
    pub base: String,
    pub records_uri: Uri,
    pub samples_uri: Uri,
}

impl CollectorEndpoint {
    fn new(field: &str, url: &str) -> Result<CollectorEndpoint> {
        let base = url.trim_end_matches('/');
        let bad = |message: String| Error::config(field, message);
        if base.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(format!("'{base}' must not hold spaces")));
        }
        let uri = |path: &str| -> Result<Uri> {
            let uri: Uri = format!("{base}{path}")
                .parse()
                .map_err(|e| bad(format!("'{base}' is not a URL: {e}")))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(bad(format!(
                    "'{base}' must look like http://host:port or https://host:port"
                )));
            }
            if let Some((_, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) {
                // Not echoed: what is before the `@` may be a password.
                let shown = format!("{}://…@{host}", uri.scheme_str().unwrap_or("http"));
                return Err(bad(format!(
                    "'{shown}' must not carry user information (the ingest token is sent as a bearer token)"
                )));
            }
            if uri.query().is_some() || base.contains('#') {
                return Err(bad(format!("'{base}' must not have a query or fragment")));
            }
            Ok(uri)
        };
        Ok(CollectorEndpoint {
            records_uri: uri("/v1/records")?,
            samples_uri: uri("/v1/node-samples")?,
            base: base.to_string(),
        })
    }
}

/// The checked configuration the gateway runs on.
pub(crate) struct Validated {
    pub router: Router,
    /// The default connect timeout and the health checks' client (every router generation's).
    pub clients: Clients,
    /// The collectors, in the order configured (see [`GatewayConfig::collectors`]).
    pub collectors: Vec<CollectorEndpoint>,
    /// Towards an `https://` collector: the system's roots plus `collector_ca_file`.
    pub collector_tls: Arc<rustls::ClientConfig>,
    pub access: Settings,
    pub client_header: http::HeaderName,
    /// `ip_deny`, parsed.
    pub ip_deny: Vec<ipnet::IpNet>,
    /// The OTLP endpoint, when spans are exported.
    pub otlp_endpoint: Option<Uri>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GatewayConfig {
        GatewayConfig::new(DEFAULT_LISTEN, "gw1", "http://127.0.0.1:8091", "/tmp/x")
    }

    fn message(c: &GatewayConfig) -> String {
        match c.validate() {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid_and_collector_paths_are_joined() {
        let mut c = config();
        c.collector_url = "http://127.0.0.1:8091/".into();
        let v = c.validate().unwrap();
        assert_eq!(v.collectors.len(), 1);
        assert_eq!(v.collectors[0].base, "http://127.0.0.1:8091");
        assert_eq!(
            v.collectors[0].records_uri,
            "http://127.0.0.1:8091/v1/records"
        );
        assert_eq!(
            v.collectors[0].samples_uri,
            "http://127.0.0.1:8091/v1/node-samples"
        );
        // A list replaces the single URL, in its order.
        c.collector_urls = vec!["https://c1:8091/".into(), "http://c2:8091/base".into()];
        let v = c.validate().unwrap();
        let bases: Vec<&str> = v.collectors.iter().map(|c| c.base.as_str()).collect();
        assert_eq!(bases, ["https://c1:8091", "http://c2:8091/base"]);
        assert_eq!(
            v.collectors[1].records_uri,
            "http://c2:8091/base/v1/records"
        );
    }

    #[test]
    fn each_bad_value_is_named() {
        let mut c = config();
        c.node = " ".into();
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'node' must not be empty"
        );

        let mut c = config();
        c.collector_url = "ftp://c:1".into();
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'collector_url' 'ftp://c:1' must look like http://host:port or https://host:port"
        );

        // https is taken; a CA file only with it, and only one that holds a CA certificate.
        let mut c = config();
        c.collector_url = "https://c:1".into();
        assert_eq!(message(&c), "ok");
        c.collector_ca_file = Some("/nonexistent/ca.pem".into());
        assert!(
            message(&c)
                .starts_with("invalid gateway configuration: 'collector_ca_file' cannot read"),
            "{}",
            message(&c)
        );
        let mut c = config();
        c.collector_ca_file = Some("/nonexistent/ca.pem".into());
        assert!(
            message(&c).contains("'collector_ca_file' is set but collector_url 'http://127.0.0.1:8091' is not https://"),
            "{}",
            message(&c)
        );

        let mut c = config();
        c.batch_max_records = 0;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'batch_max_records' must be at least 1"
        );

        for name in [
            "",
            "x y",
            "Authorization",
            "X-Forwarded-For",
            "Connection",
            "TE",
            "Proxy-X",
        ] {
            let mut c = config();
            c.client_header = name.into();
            assert!(
                message(&c).starts_with("invalid gateway configuration: 'client_header'"),
                "{name}: {}",
                message(&c)
            );
        }
        let mut c = config();
        c.client_header = "X-Caller".into();
        assert_eq!(c.validate().unwrap().client_header, "x-caller");

        let mut c = config();
        c.batch_max_bytes = 1000;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'batch_max_bytes' must be at least 1048576 (1 MiB)"
        );

        let mut c = config();
        c.admin_listen = c.listen;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'admin_listen' must differ from listen (127.0.0.1:8080)"
        );

        let mut c = config();
        c.header_read_timeout = Duration::ZERO;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'header_read_timeout' must be longer than zero"
        );

        let mut c = config();
        c.upstream_timeout = Duration::ZERO;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'upstream_timeout' must be longer than zero"
        );
    }

    #[test]
    fn each_bad_collector_url_is_named_by_its_place() {
        let with = |urls: &[&str]| {
            let mut c = config();
            c.collector_urls = urls.iter().map(|u| u.to_string()).collect();
            message(&c)
        };
        assert_eq!(with(&["http://c1:8091", "https://c2:8091"]), "ok");
        for (urls, want) in [
            (
                vec!["http://c1:8091", "ftp://c2:8091"],
                "'collector_urls[1]' 'ftp://c2:8091' must look like http://host:port",
            ),
            (
                vec!["http://user:secret@c1:8091"],
                "'collector_urls[0]' 'http://…@c1:8091' must not carry user information",
            ),
            (
                vec!["http://c1:8091", "http://c1:8091/"],
                "'collector_urls[1]' 'http://c1:8091' is listed twice (also collector_urls[0])",
            ),
            (
                vec!["http://c1:8091?x=1"],
                "'collector_urls[0]' 'http://c1:8091?x=1' must not have a query or fragment",
            ),
            (
                vec!["http://c 1:8091"],
                "'collector_urls[0]' 'http://c 1:8091' must not hold spaces",
            ),
            (
                vec!["", "http://c1"],
                "'collector_urls[0]' '' must look like http://host:port",
            ),
        ] {
            let got = with(&urls);
            assert!(got.contains(want), "{urls:?}: {got}");
        }
        let many: Vec<String> = (0..100).map(|i| format!("http://c{i}:8091")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            with(&many),
            "invalid gateway configuration: 'collector_urls' lists 100 collectors; at most 16 (put a load balancer in front of more)"
        );
        assert_eq!(with(&many[..MAX_COLLECTORS]), "ok");
        // The CA file needs one https:// collector in the list.
        let mut c = config();
        c.collector_urls = vec!["http://c1:1".into(), "http://c2:1".into()];
        c.collector_ca_file = Some("/nonexistent/ca.pem".into());
        assert!(
            message(&c).contains("'collector_ca_file' is set but collector_urls 'http://c1:1, http://c2:1' is not https://"),
            "{}",
            message(&c)
        );
        assert_eq!("listed".parse(), Ok(CollectorOrder::Listed));
        assert_eq!("spread".parse(), Ok(CollectorOrder::Spread));
        assert!("random".parse::<CollectorOrder>().is_err());
    }

    #[test]
    fn route_from_toml_rejects_unknown_keys() {
        let ok: RouteConfig = toml_like(
            r#"{"prefix":"/demo","upstreams":["http://127.0.0.1:9000"],"strip_prefix":true}"#,
        );
        assert!(ok.strip_prefix);
        assert_eq!(ok.api_id, "");
        let err = serde_json::from_str::<RouteConfig>(
            r#"{"prefix":"/demo","upstreams":[],"strip":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `strip`"), "{err}");
    }

    fn toml_like(json: &str) -> RouteConfig {
        serde_json::from_str(json).unwrap()
    }
}
