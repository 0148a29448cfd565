//! What a gateway is told: [`GatewayConfig`] and its [`RouteConfig`]s, with defaults and the
//! checks that turn them into the validated form the proxy runs on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use crate::access::auth::{JwtKey, JwtVerifier};
use crate::access::priority::GateConfig;
use crate::access::Settings;
use crate::error::{Error, Result};
use crate::route::Router;
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

/// Everything a gateway needs to run. Build it with [`GatewayConfig::new`] and change the
/// fields that differ from the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Address the proxy listens on (default `127.0.0.1:8080`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Node name written into every record and sample (the binary passes the host name).
    pub node: String,
    /// The file's APIs, routed as `{prefix}/**` (the most specific pattern wins, so the
    /// longest prefix does; see the crate doc).
    pub routes: Vec<RouteConfig>,
    /// Base URL of the collector, `http://host:port[/base]`; records go to
    /// `{collector_url}/v1/records`, samples to `{collector_url}/v1/node-samples`.
    pub collector_url: String,
    /// Where batches wait while the collector is away (`<data_dir>/spool`).
    pub spool_dir: PathBuf,
    /// Cap of the spool's files in bytes; a batch that would pass it is dropped and counted.
    pub spool_max_bytes: u64,
    /// Capacity of the in-memory record queue between the proxy and the shipper.
    pub queue_capacity: usize,
    /// Most records in one batch.
    pub batch_max_records: usize,
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
    /// Time allowed for one POST of a batch to the collector (connect to response end).
    pub collector_timeout: Duration,
    /// The collector's ingest token, sent as `Authorization: Bearer` with every batch (the
    /// binary passes `[security] ingest_token` or the one derived from the site pepper). Empty:
    /// none is sent, and a collector answers 401 (the batches wait in the spool).
    pub ingest_token: String,
    /// On shutdown, how long in-flight calls may take to finish before the gateway stops
    /// waiting for them.
    pub drain_timeout: Duration,
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
    /// Site zone: validity dates, service hours and quota windows of clients without their own.
    pub timezone: chrono_tz::Tz,
    /// Proxies (CIDR blocks) whose `X-Forwarded-For` is believed for the client's address;
    /// empty: the TCP peer address is the client's.
    pub trusted_proxies: Vec<String>,
    /// The VIP admission gate in front of the upstreams (see `access::priority`).
    pub gate: GateConfig,
    /// How often shared-scope quota counts are read from ClickHouse.
    pub quota_sync: Duration,
}

impl GatewayConfig {
    /// A configuration with no routes and the defaults for everything else.
    pub fn new(
        listen: SocketAddr,
        node: impl Into<String>,
        collector_url: impl Into<String>,
        spool_dir: impl Into<PathBuf>,
    ) -> GatewayConfig {
        GatewayConfig {
            listen,
            node: node.into(),
            routes: Vec::new(),
            collector_url: collector_url.into(),
            spool_dir: spool_dir.into(),
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_max_records: DEFAULT_BATCH_MAX_RECORDS,
            flush_interval: Duration::from_secs(1),
            sample_interval: Duration::from_secs(10),
            upstream_connect_timeout: Duration::from_secs(3),
            upstream_timeout: Duration::from_secs(30),
            collector_timeout: Duration::from_secs(10),
            ingest_token: String::new(),
            drain_timeout: Duration::from_secs(10),
            config_store: None,
            snapshot_dir: None,
            config_poll: Duration::from_secs(1),
            pepper: Arc::from(Vec::new()),
            jwt: Vec::new(),
            jwt_client_claim: "sub".into(),
            jwt_leeway: Duration::from_secs(30),
            timezone: chrono_tz::Asia::Taipei,
            trusted_proxies: Vec::new(),
            gate: GateConfig::default(),
            quota_sync: Duration::from_secs(1),
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
        for (field, d) in [
            ("flush_interval", self.flush_interval),
            ("upstream_connect_timeout", self.upstream_connect_timeout),
            ("upstream_timeout", self.upstream_timeout),
            ("collector_timeout", self.collector_timeout),
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
        let mut trusted_proxies = Vec::with_capacity(self.trusted_proxies.len());
        for (i, c) in self.trusted_proxies.iter().enumerate() {
            trusted_proxies.push(
                gatewatch_model::client::parse_cidr(c)
                    .map_err(|m| Error::config(format!("trusted_proxies[{i}]"), m))?,
            );
        }
        let jwt = JwtVerifier::new(&self.jwt, &self.jwt_client_claim, self.jwt_leeway)
            .map_err(|(field, message)| Error::config(field, message))?;
        let base = self.collector_url.trim_end_matches('/');
        if !self.ingest_token.is_empty()
            && http::HeaderValue::from_str(&format!("Bearer {}", self.ingest_token)).is_err()
        {
            return Err(Error::config(
                "ingest_token",
                "must be visible ASCII (it is sent in an HTTP header)",
            ));
        }
        let records_uri = collector_uri(base, "/v1/records")?;
        let samples_uri = collector_uri(base, "/v1/node-samples")?;
        let clients = Clients::new(self.upstream_connect_timeout);
        Ok(Validated {
            router: Router::with_clients(&self.routes, &clients)?,
            clients,
            records_uri,
            samples_uri,
            access: Settings {
                pepper: self.pepper.clone(),
                jwt,
                site_tz: self.timezone,
                trusted_proxies,
                gate: self.gate,
            },
        })
    }
}

fn collector_uri(base: &str, path: &str) -> Result<Uri> {
    let bad = |message: String| Error::config("collector_url", message);
    let uri: Uri = format!("{base}{path}")
        .parse()
        .map_err(|e| bad(format!("'{base}' is not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(bad(format!("'{base}' must look like http://host:port")));
    }
    Ok(uri)
}

/// The checked configuration the gateway runs on.
pub(crate) struct Validated {
    pub router: Router,
    /// The default connect timeout and the health checks' client (every router generation's).
    pub clients: Clients,
    pub records_uri: Uri,
    pub samples_uri: Uri,
    pub access: Settings,
}

/// One API: requests whose path starts with `prefix` (at a `/` boundary) go to `upstreams`.
///
/// Deserializes from a `[[routes]]` table of `gatewatch.toml`; unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix, e.g. `/demo`; `/demo` matches `/demo` and `/demo/x`, not `/demox`.
    pub prefix: String,
    /// Upstream base URLs, `http://host:port`, used in turn (round robin), a failed connect
    /// tried once on the next.
    pub upstreams: Vec<String>,
    /// Remove the prefix before forwarding (`/demo/x` → `/x`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// API id written into records; empty means the prefix.
    #[serde(default)]
    pub api_id: String,
    /// API display name written into records; empty means the prefix.
    #[serde(default)]
    pub api_name: String,
    /// A whole API entity to serve instead of the defaults of a public, prefix-routed,
    /// round-robin API (load balancing, health checks, timeouts, auth, capture…); its own
    /// `prefix`/`path` and `upstreams` are then what is routed. `None` for the file's routes.
    #[serde(skip)]
    pub spec: Option<std::sync::Arc<gatewatch_model::ApiSpec>>,
}

impl RouteConfig {
    /// A route that keeps the prefix and is named after it.
    pub fn new(
        prefix: impl Into<String>,
        upstreams: impl IntoIterator<Item = impl Into<String>>,
    ) -> RouteConfig {
        let prefix = prefix.into();
        RouteConfig {
            api_id: prefix.clone(),
            api_name: prefix.clone(),
            prefix,
            upstreams: upstreams.into_iter().map(Into::into).collect(),
            strip_prefix: false,
            spec: None,
        }
    }

    /// The same route with `strip_prefix` set.
    pub fn strip_prefix(mut self, strip: bool) -> RouteConfig {
        self.strip_prefix = strip;
        self
    }
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
        assert_eq!(v.records_uri, "http://127.0.0.1:8091/v1/records");
        assert_eq!(v.samples_uri, "http://127.0.0.1:8091/v1/node-samples");
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
        c.collector_url = "https://c:1".into();
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'collector_url' 'https://c:1' must look like http://host:port"
        );

        let mut c = config();
        c.batch_max_records = 0;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'batch_max_records' must be at least 1"
        );

        let mut c = config();
        c.upstream_timeout = Duration::ZERO;
        assert_eq!(
            message(&c),
            "invalid gateway configuration: 'upstream_timeout' must be longer than zero"
        );
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
