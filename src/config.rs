//! `gatewatch.toml`, `GATEWATCH_*` environment overrides, and their validation.
//!
//! Every key is optional (defaults need no file). A key that is not known is an error naming
//! it, not a silent default. Every leaf key can also come from the environment: `[clickhouse]
//! url` is `GATEWATCH_CLICKHOUSE_URL`, `data_dir` is `GATEWATCH_DATA_DIR`; the environment
//! wins over the file, command-line flags win over both.

use gatewatch_model::smtp::{SmtpConfig, SmtpTls};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem: which key, and what is wrong with it. Exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Where roles keep their files: `wal/` (collector), `spool/` (gateway), `snapshot/`.
    pub data_dir: PathBuf,
    /// Site time zone (IANA name) for reports, exception windows and schedules.
    pub timezone: String,
    /// This node's name in records and samples; empty means the host name.
    pub node: String,
    pub clickhouse: ClickHouseSection,
    pub gateway: GatewaySection,
    pub collector: CollectorSection,
    pub dashboards: DashboardsSection,
    pub alerter: AlerterSection,
    pub reports: ReportsSection,
    pub portal: PortalSection,
    pub retention: RetentionSection,
    /// APIs defined in the file.
    pub routes: Vec<RouteSection>,
    pub security: SecuritySection,
}

/// Site secrets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// The pepper API keys and client secrets are hashed under (HMAC-SHA256), as text. Empty:
    /// read from `pepper_file`. Every gateway and the admin API of a site must share it.
    pub pepper: String,
    /// File holding the pepper's bytes; default `<data_dir>/secret/pepper`, created with 32
    /// random bytes (mode 0600) when missing.
    pub pepper_file: String,
    /// The bearer token gateways send to the collector (`/v1/records`, `/v1/node-samples`).
    /// Empty: derived from the pepper (HMAC-SHA256 of "gatewatch ingest token v1", hex), so
    /// roles sharing the pepper agree with nothing set. At least 16 visible ASCII characters.
    pub ingest_token: String,
}

/// JWTs accepted by APIs with `auth = ["jwt"]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwtSection {
    /// HS256 shared secrets (at least 16 bytes each).
    pub hs256_secrets: Vec<String>,
    /// RS256 public keys: PEM text, or the path of a PEM file.
    pub rs256_public_keys: Vec<String>,
    /// The claim naming the client id.
    pub client_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// When set, a token's `iss` must equal it (else 401 `invalid_credentials`); empty: not
    /// checked.
    pub issuer: String,
    /// When set, a token's `aud` (a string or an array) must hold it; empty: not checked.
    pub audience: String,
}

impl Default for JwtSection {
    fn default() -> Self {
        JwtSection {
            hs256_secrets: Vec::new(),
            rs256_public_keys: Vec::new(),
            client_claim: "sub".into(),
            leeway_secs: 30,
            issuer: String::new(),
            audience: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// HTTP interface of ClickHouse.
    pub url: String,
    /// On a cluster (`cluster`): every ClickHouse server, `url` among them. The collector asks
    /// each which shard it serves, inserts into every shard, and fails over between a shard's
    /// replicas. Empty: `url` alone (then the collector inserts through `Distributed`).
    pub urls: Vec<String>,
    /// Database holding gatewatch's tables (created by `gatewatch migrate`).
    pub database: String,
    pub user: String,
    pub password: String,
    /// LZ4 on inserts: `lz4` (default; measured faster even on loopback) or `none`.
    pub compression: String,
    /// PEM file of the CA certificates that sign an `https://` ClickHouse's certificate,
    /// trusted beside the system's roots; empty: the system's roots only.
    pub ca_file: String,
    /// Name of the ClickHouse cluster (its `remote_servers` entry) to spread the tables over:
    /// `gatewatch migrate` then creates replicated local tables and Distributed tables
    /// `ON CLUSTER` (docs/cluster.md). Empty: one server.
    pub cluster: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Address the proxy listens on; it routes every path.
    pub listen: String,
    /// Address of the gateway's own `/healthz`, `/readyz` and `/metrics`.
    pub admin_listen: String,
    /// Client connections open at once on the proxy port; more are closed as they are
    /// accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds, on the proxy and admin ports; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Where call records and node samples are shipped (`http://` or `https://`).
    pub collector_url: String,
    /// Several collectors instead of `collector_url` (not both): the gateway sends to one at a
    /// time and fails over to the next; 1 to 16 `http(s)://` URLs, no two alike.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collector_urls: Option<Vec<String>>,
    /// How a gateway ranks `collector_urls`: `spread` (by a hash of its node name, so
    /// gateways sharing this file spread over the collectors) or `listed` (the first is every
    /// gateway's primary).
    pub collector_order: String,
    /// PEM file of the CA certificates that sign an `https://` collector's certificate,
    /// trusted beside the system's roots; empty: the system's roots only.
    pub collector_ca_file: String,
    /// Largest spool on disk while the collector is away, in MiB.
    pub spool_max_mb: u64,
    /// Largest journal (each call's record on disk when the call ends, so a killed gateway
    /// loses none), in MiB; 0 turns it off.
    pub journal_max_mb: u64,
    /// When the journal is synced to the disk: `interval` (once per second) or `never` (the
    /// kernel's own write-back). Either way it survives a killed process.
    pub journal_fsync: String,
    /// Records held in memory before the shipper takes them; more are dropped (and counted).
    pub queue_capacity: usize,
    /// Records per shipped batch.
    pub batch_max_records: usize,
    /// Bytes of uncompressed NDJSON per shipped batch at most (at least 1 MiB); keep it below
    /// the collector's `max_body_mb`.
    pub batch_max_bytes: usize,
    /// A batch is shipped at least this often, in milliseconds.
    pub flush_interval_ms: u64,
    /// Node sampling interval, in seconds.
    pub sample_interval_secs: u64,
    /// Upstream connect timeout, in milliseconds (then 502).
    pub upstream_connect_timeout_ms: u64,
    /// Time to the upstream's response head, in milliseconds (then 504).
    pub upstream_timeout_ms: u64,
    /// An upgraded connection (WebSocket...) idle both ways this long is closed, in
    /// milliseconds.
    pub upgrade_idle_timeout_ms: u64,
    /// CA certificates (PEM files) trusted for every `https://` upstream, beside the system's
    /// roots; an API adds its own with `upstream_tls.ca_file`.
    pub upstream_ca_files: Vec<PathBuf>,
    /// Proxies (CIDR) whose `X-Forwarded-For` names the client for IP allowlists; empty: the
    /// TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Addresses and CIDR blocks refused on every API before authentication (403
    /// `ip_denied`, outcome `refused_ip`), read as the IP allowlists read the caller's.
    pub ip_deny: Vec<String>,
    /// Calls admitted to the upstreams at once; past it calls queue by client priority.
    pub max_inflight: usize,
    /// Calls waiting for admission at most (more get 503 `refused_busy`).
    pub queue_max: usize,
    /// Longest wait for admission, in milliseconds (then 503 `refused_busy`).
    pub queue_wait_ms: u64,
    /// How often shared-scope quota counts are read from ClickHouse, in milliseconds.
    pub quota_sync_ms: u64,
    /// The header that tells upstreams which client called (only the gateway sets it).
    pub client_header: String,
    pub jwt: JwtSection,
    /// The TLS listener beside `listen` (off while `tls.listen` is empty).
    pub tls: GatewayTlsSection,
    /// The OAuth 2.0 authorization server and trusted token issuers.
    pub oauth: OauthSection,
    /// W3C Trace Context per call: a caller's `traceparent` continued or a trace started, the
    /// gateway's span forwarded upstream and recorded. `false`: both trace headers pass
    /// through untouched and records carry no trace ids.
    pub tracing: bool,
    /// OTLP/HTTP export of one span per call (off while `otlp.endpoint` is empty).
    pub otlp: OtlpSection,
    /// The node groups this gateway is in: it serves the APIs bound to one of them (an API's
    /// `node_groups`) and those bound to none. Names of `a-z 0-9 - _ .`.
    pub node_groups: Vec<String>,
}

/// `[gateway.otlp]`: one span per call to an OTLP/HTTP receiver (an OpenTelemetry Collector,
/// Jaeger, Tempo...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSection {
    /// `http(s)://host:4318/v1/traces`; empty: no export.
    pub endpoint: String,
    /// The `service.name` resource attribute of the spans.
    pub service_name: String,
    /// Longest wait for the receiver's answer to one batch, in milliseconds.
    pub timeout_ms: u64,
    /// Spans waiting to be sent at most; more are dropped (the proxy never waits).
    pub queue_capacity: usize,
    /// Spans per request at most.
    pub batch_max_spans: usize,
    /// A batch is sent at least this often, in milliseconds.
    pub flush_interval_ms: u64,
}

impl Default for OtlpSection {
    fn default() -> Self {
        OtlpSection {
            endpoint: String::new(),
            service_name: "gatewatch-gateway".into(),
            timeout_ms: 10_000,
            queue_capacity: 2048,
            batch_max_spans: 512,
            flush_interval_ms: 2_000,
        }
    }
}

/// `[gateway.oauth]`: the gateway's authorization server and the issuers it trusts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OauthSection {
    /// `iss` of issued tokens and base URL of the endpoints in the metadata; empty:
    /// `http://<gateway.listen>`.
    pub issuer: String,
    /// `aud` of issued tokens; empty: the issuer.
    pub audience: String,
    /// Lifetime of an issued access token, in seconds.
    pub token_ttl_secs: u64,
    /// `ES256` or `RS256`: the algorithm of new signing keys.
    pub signing_alg: String,
    pub trusted_issuers: Vec<TrustedIssuerSection>,
}

impl Default for OauthSection {
    fn default() -> Self {
        OauthSection {
            issuer: String::new(),
            audience: String::new(),
            token_ttl_secs: 3600,
            signing_alg: "ES256".into(),
            trusted_issuers: Vec::new(),
        }
    }
}

/// `[[gateway.oauth.trusted_issuers]]`: an external IdP whose access tokens are accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerSection {
    pub issuer: String,
    pub jwks_uri: String,
    pub audience: String,
}

/// `[gateway.tls]`: HTTPS on its own address; the same routes, limits and records as `listen`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayTlsSection {
    /// Address of the TLS listener; empty: none.
    pub listen: String,
    /// PEM: the server certificate, then its intermediates (the full chain).
    pub cert_file: String,
    /// PEM: its private key.
    pub key_file: String,
    /// How often the certificate files are looked at; a change is loaded for new connections.
    pub reload_interval_ms: u64,
    /// More certificates, chosen by the name the client asks for (SNI); `cert_file` answers
    /// every other name.
    pub certs: Vec<TlsCertSection>,
    /// PEM: the CAs whose client certificates are accepted (mTLS); empty: no certificate is
    /// asked for. Reloaded with the certificates.
    pub client_ca_file: String,
}

impl Default for GatewayTlsSection {
    fn default() -> Self {
        GatewayTlsSection {
            listen: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            reload_interval_ms: 5_000,
            certs: Vec::new(),
            client_ca_file: String::new(),
        }
    }
}

/// `[collector.tls]`, `[dashboards.tls]`: a role's HTTPS listener beside its plain one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoleTlsSection {
    /// Address of the TLS listener; empty: none.
    pub listen: String,
    /// PEM: the server certificate, then its intermediates (the full chain).
    pub cert_file: String,
    /// PEM: its private key.
    pub key_file: String,
    /// How often the certificate files are looked at; a change is loaded for new connections.
    pub reload_interval_ms: u64,
}

impl Default for RoleTlsSection {
    fn default() -> Self {
        RoleTlsSection {
            listen: String::new(),
            cert_file: String::new(),
            key_file: String::new(),
            reload_interval_ms: 5_000,
        }
    }
}

/// `[[gateway.tls.certs]]`: a certificate for some server names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsCertSection {
    /// DNS names (`api.example.com`, or `*.example.com` for one label) this certificate answers.
    pub server_names: Vec<String>,
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSection {
    /// Address of the ingest API.
    pub listen: String,
    /// Appends are refused (503) while the write-ahead log holds this many MiB.
    pub wal_max_mb: u64,
    /// Largest ingest body as sent, in MiB.
    pub max_body_mb: usize,
    /// Rows per INSERT round at most.
    pub insert_max_rows: usize,
    /// An INSERT round waits at most this long to fill, in milliseconds.
    pub insert_period_ms: u64,
    /// Connections open at once on this port; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Records older than this are refused (a field error for their line), except in batches
    /// a gateway replays from its spool. A duration: whole numbers with units s, m, h, d
    /// (`7d`, `36h`, `1d12h`).
    pub max_record_age: String,
    /// The ingest API over TLS beside `listen` (off while `tls.listen` is empty).
    pub tls: RoleTlsSection,
    /// Refuse batches and samples from a node that is not in the node registry (no heartbeat
    /// lately), naming the node. Off by default.
    pub registered_nodes_only: bool,
    /// On a cluster: `shards` (the collector splits each round by shard and inserts into one
    /// replica per shard; needs `[clickhouse] urls`) or `distributed` (through the
    /// `Distributed` table, synchronously: for a collector that reaches ClickHouse through one
    /// address only). Empty (default): `shards` when `[clickhouse] urls` is set, else
    /// `distributed`.
    pub cluster_insert: String,
}

/// The reports role: scheduled report mail (and retention, see `[retention]`), and the charts
/// every role that draws them uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsSection {
    /// Address of the role's HTTP port (health and metrics).
    pub listen: String,
    /// Connections open at once on this port; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How often report subscriptions are re-read (when changed) and the sending lease
    /// renewed, in milliseconds.
    pub poll_ms: u64,
    /// How long the sending lease lasts unrenewed, in milliseconds (more than twice `poll_ms`).
    pub lease_ttl_ms: u64,
    /// Further attempts after a failed report mail (0 to 10).
    pub retries: u32,
    /// Pause before the first retry, in seconds; doubled each time, at most 15 minutes.
    pub retry_backoff_secs: u64,
    /// How late a scheduled mail missed while no reports process could send (a restart, a
    /// failover) is still sent, in seconds (0: never; at most 7 days).
    pub catch_up_secs: u64,
    /// The SMTP server report mail goes through; no host: `[alerter.smtp]`'s.
    pub smtp: SmtpSection,
    /// The chart font: a .ttf, .otf or .ttc file that has Chinese (API names are drawn in
    /// PNG charts). Empty: the first found of Debian's fonts-noto-cjk and fonts-wqy paths.
    pub font: String,
}

impl Default for ReportsSection {
    fn default() -> Self {
        ReportsSection {
            listen: "127.0.0.1:8093".into(),
            max_connections: 1_000,
            header_read_timeout_ms: 10_000,
            poll_ms: 5_000,
            lease_ttl_ms: 15_000,
            retries: 3,
            retry_backoff_secs: 60,
            catch_up_secs: 6 * 3600,
            smtp: SmtpSection::default(),
            font: String::new(),
        }
    }
}

/// How long data is kept; enforced by the reports role at start and daily by dropping whole
/// partitions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Off: nothing is dropped.
    pub enabled: bool,
    /// Days of raw calls, per-minute rollups and node samples.
    pub raw_days: u32,
    /// Days of the hourly rollups (long-range reports).
    pub rollup_days: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            enabled: true,
            raw_days: 90,
            rollup_days: 400,
        }
    }
}

/// The alerter role: how often it evaluates, and how it reaches people. No credential of
/// these is kept in ClickHouse: channels (in the configuration log) name a secret, its bytes
/// are here (a webhook's own credential headers are kept there sealed, see `model::sealed`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlerterSection {
    /// Address of the role's HTTP port (health, metrics and test-sends).
    pub listen: String,
    /// Connections open at once on this port; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// How often rules are evaluated, in milliseconds.
    pub eval_interval_ms: u64,
    /// How long the sending lease lasts unrenewed, in milliseconds (more than twice the
    /// evaluation interval: the holder renews it every round).
    pub lease_ttl_ms: u64,
    /// `{{link}}` in alert messages: the dashboards' URL as people reach it, e.g.
    /// `http://127.0.0.1:8090`; empty: no link.
    pub link_base: String,
    /// Further attempts after a failed e-mail or LINE send (webhooks set theirs per channel).
    pub retries: u32,
    /// Language of alert notices where a rule does not choose one: `zh-TW` or `en`.
    pub language: String,
    /// Internal ranges webhooks may reach (CIDRs, e.g. `["10.1.0.0/16"]`; loopback too, as
    /// `"127.0.0.0/8"`). Empty: webhooks reach public addresses only. Env:
    /// `GATEWATCH_ALERTER_ALLOWED_NETWORKS`, comma-separated.
    pub allowed_networks: Vec<String>,
    pub smtp: SmtpSection,
    pub line: LineSection,
    /// Named secrets (webhook HMAC keys, at least 16 bytes) that webhook channels reference by
    /// name: `[alerter.secrets] chatops = "…"`, or `GATEWATCH_ALERTER_SECRETS_CHATOPS` (the
    /// name is the lower-cased rest of the variable's name).
    pub secrets: BTreeMap<String, String>,
}

/// The SMTP server alert mail goes through; no host: e-mail channels are not sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    pub host: String,
    /// 0: the usual port for `tls` (25, 587, 465).
    pub port: u16,
    /// `none`, `starttls` (upgrade, and refuse a server that cannot) or `tls` (from the
    /// first byte).
    pub tls: String,
    /// Empty: no login.
    pub user: String,
    pub password: String,
    /// `From:`, e.g. `gatewatch <alerts@example.tw>`.
    pub from: String,
    /// Per SMTP command, in seconds.
    pub timeout_secs: u64,
    /// PEM file of an extra trusted root (a private CA); the system's roots are trusted too.
    pub ca_file: String,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            host: String::new(),
            port: 0,
            tls: "starttls".into(),
            user: String::new(),
            password: String::new(),
            from: String::new(),
            timeout_secs: 10,
            ca_file: String::new(),
        }
    }
}

/// The LINE Messaging API channel alerts are pushed through.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LineSection {
    pub base_url: String,
    /// Long-lived channel access token; empty: LINE channels are not sent.
    pub channel_access_token: String,
    /// Per attempt, in seconds.
    pub timeout_secs: u64,
}

impl Default for LineSection {
    fn default() -> Self {
        LineSection {
            base_url: "https://api.line.me".into(),
            channel_access_token: String::new(),
            timeout_secs: 10,
        }
    }
}

impl Default for AlerterSection {
    fn default() -> Self {
        AlerterSection {
            listen: "127.0.0.1:8092".into(),
            max_connections: 1_000,
            header_read_timeout_ms: 10_000,
            eval_interval_ms: 5_000,
            lease_ttl_ms: 15_000,
            link_base: String::new(),
            retries: 3,
            language: "zh-TW".into(),
            allowed_networks: Vec::new(),
            smtp: SmtpSection::default(),
            line: LineSection::default(),
            secrets: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardsSection {
    /// Address of the web UI and admin API.
    pub listen: String,
    /// Connections open at once on this port; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Mark the session cookie `Secure` on the plain listener too (set it when users reach it
    /// through an HTTPS proxy); on `[dashboards.tls]` cookies are always `Secure`.
    pub secure_cookies: bool,
    /// How long a login lasts, in hours.
    pub session_hours: u64,
    /// The alerter's port, where test-sends are forwarded (`http://host:port`).
    pub alerter_url: String,
    /// Proxies (CIDR) whose `X-Forwarded-For` names the client for the login lockout and
    /// audit rows; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Argon2 password hashes and checks at once (1 to 64); more wait, then 429.
    pub max_password_checks: u64,
    /// How long a login waits for a password check, in milliseconds (0 to 10000; 0: no wait).
    pub password_check_wait_ms: u64,
    /// The web UI, admin API and report API over TLS beside `listen` (off while `tls.listen`
    /// is empty); its cookies are `Secure`.
    pub tls: RoleTlsSection,
}

impl Default for DashboardsSection {
    fn default() -> Self {
        DashboardsSection {
            listen: "127.0.0.1:8090".into(),
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            secure_cookies: false,
            session_hours: 12,
            alerter_url: "http://127.0.0.1:8092".into(),
            trusted_proxies: Vec::new(),
            max_password_checks: 2,
            password_check_wait_ms: 1000,
            tls: RoleTlsSection::default(),
        }
    }
}

/// The developer portal: the public site where API consumers find the published APIs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSection {
    /// Address of the portal's site (catalogue, API pages, health and metrics).
    pub listen: String,
    /// Connections open at once on this port; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head (and longest idle keep-alive), in
    /// milliseconds; then the connection is closed.
    pub header_read_timeout_ms: u64,
}

impl Default for PortalSection {
    fn default() -> Self {
        PortalSection {
            listen: "127.0.0.1:8094".into(),
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Path prefix, e.g. `/demo`.
    pub prefix: String,
    /// Upstream base URLs, tried round robin.
    pub upstreams: Vec<String>,
    /// Remove the prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// API id in records; default: the prefix.
    #[serde(default)]
    pub api_id: Option<String>,
    /// API name in records (any language); default: the id.
    #[serde(default)]
    pub name: Option<String>,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            data_dir: PathBuf::from("./data"),
            timezone: "Asia/Taipei".into(),
            node: String::new(),
            clickhouse: ClickHouseSection::default(),
            gateway: GatewaySection::default(),
            collector: CollectorSection::default(),
            dashboards: DashboardsSection::default(),
            alerter: AlerterSection::default(),
            reports: ReportsSection::default(),
            portal: PortalSection::default(),
            retention: RetentionSection::default(),
            routes: Vec::new(),
            security: SecuritySection::default(),
        }
    }
}

impl Default for ClickHouseSection {
    fn default() -> Self {
        ClickHouseSection {
            url: "http://127.0.0.1:8123".into(),
            urls: Vec::new(),
            database: "gatewatch".into(),
            user: "default".into(),
            password: String::new(),
            compression: "lz4".into(),
            ca_file: String::new(),
            cluster: String::new(),
        }
    }
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:8081".into(),
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            collector_url: "http://127.0.0.1:8091".into(),
            collector_urls: None,
            collector_order: "spread".into(),
            collector_ca_file: String::new(),
            spool_max_mb: 1024,
            journal_max_mb: 256,
            journal_fsync: "interval".into(),
            queue_capacity: 100_000,
            batch_max_records: 5_000,
            batch_max_bytes: 8 << 20,
            flush_interval_ms: 1_000,
            sample_interval_secs: 10,
            upstream_connect_timeout_ms: 3_000,
            upstream_timeout_ms: 30_000,
            upgrade_idle_timeout_ms: 300_000,
            upstream_ca_files: Vec::new(),
            trusted_proxies: Vec::new(),
            ip_deny: Vec::new(),
            max_inflight: 1024,
            queue_max: 10_000,
            queue_wait_ms: 5_000,
            quota_sync_ms: 1_000,
            client_header: gatewatch_gateway::DEFAULT_CLIENT_HEADER.into(),
            jwt: JwtSection::default(),
            tls: GatewayTlsSection::default(),
            oauth: OauthSection::default(),
            tracing: true,
            otlp: OtlpSection::default(),
            node_groups: vec![gatewatch_model::node::DEFAULT_GROUP.into()],
        }
    }
}

impl Default for CollectorSection {
    fn default() -> Self {
        CollectorSection {
            listen: "127.0.0.1:8091".into(),
            wal_max_mb: 4096,
            max_body_mb: 32,
            insert_max_rows: 500_000,
            insert_period_ms: 1_000,
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            max_record_age: "7d".into(),
            registered_nodes_only: false,
            tls: RoleTlsSection::default(),
            cluster_insert: String::new(),
        }
    }
}

/// The checked configuration every role reads.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub timezone: chrono_tz::Tz,
    pub node: String,
    pub store: gatewatch_store::StoreConfig,
    pub gateway: gatewatch_gateway::GatewayConfig,
    pub collector: gatewatch_collector::CollectorConfig,
    pub dashboards_listen: SocketAddr,
    /// `[dashboards.tls]`: the same site over TLS, if any.
    pub dashboards_tls: Option<gatewatch_dashboards::TlsListen>,
    /// `[dashboards] max_connections`, `header_read_timeout_ms`.
    pub dashboards_limits: gatewatch_listen::Limits,
    /// `[alerter] max_connections`, `header_read_timeout_ms`.
    pub alerter_limits: gatewatch_listen::Limits,
    /// `[reports] max_connections`, `header_read_timeout_ms`.
    pub reports_limits: gatewatch_listen::Limits,
    pub dashboards_secure_cookies: bool,
    pub dashboards_session_ttl: Duration,
    /// `[dashboards] alerter_url`, without a trailing slash.
    pub dashboards_alerter_url: String,
    pub dashboards_trusted_proxies: Vec<ipnet::IpNet>,
    pub dashboards_max_password_checks: usize,
    pub dashboards_password_check_wait: Duration,
    pub alerter_listen: SocketAddr,
    pub alerter_eval_interval: Duration,
    pub alerter_lease_ttl: Duration,
    /// Without a trailing `/`; empty: no link.
    pub alerter_link_base: String,
    /// Notice language where a rule does not choose one (`[alerter] language`).
    pub alerter_language: gatewatch_model::alert::Lang,
    /// SMTP, LINE and webhook secrets for the notifiers.
    pub alerter: gatewatch_alerter::AlerterConfig,
    pub reports_listen: SocketAddr,
    pub reports_poll: Duration,
    pub reports_lease_ttl: Duration,
    pub reports_retries: u32,
    pub reports_backoff: Duration,
    pub reports_catch_up: Duration,
    /// `[reports.smtp]`, or else `[alerter.smtp]`; `None`: report mail is not sent.
    pub reports_smtp: Option<SmtpConfig>,
    /// `[portal] listen`, `max_connections`, `header_read_timeout_ms`.
    pub portal: gatewatch_portal::PortalConfig,
    /// `None`: retention is off.
    pub retention: Option<gatewatch_reports::retention::RetentionPolicy>,
    /// `[reports] font`; `None`: search Debian's font paths.
    pub reports_font: Option<PathBuf>,
    /// Where the pepper comes from; read by [`crate::pepper::load_pepper`] when a role
    /// starts (it may create the file).
    pub security: SecuritySection,
}

/// Reads the file (if any), applies the environment, returns the raw result. A syntax error
/// names the file and its line; a key of a wrong type or not known names its path
/// (`gateway.max_connections`, `routes[0].prefx`).
pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<FileConfig, ConfigError> {
    let mut value = match path {
        Some(p) => parse_toml(p)?,
        None => toml::Table::new(),
    };
    apply_env(&mut value, env)?;
    from_table(value)
}

/// The file as a TOML table; a syntax error names the file and the line.
pub fn parse_toml(p: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| bad(p.display().to_string(), format!("cannot read: {e}")))?;
    text.parse::<toml::Table>().map_err(|e| {
        let at = e.span().map_or(String::new(), |s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
        bad(
            p.display().to_string(),
            format!("{at}{}", e.message().trim_end().replace('\n', "; ")),
        )
    })
}

/// Deserializes a table; errors name the key's path.
pub fn from_table(value: toml::Table) -> Result<FileConfig, ConfigError> {
    // One way to name the collectors: which of the two would win is not obvious to a reader.
    if let Some(g) = value.get("gateway").and_then(toml::Value::as_table) {
        if g.contains_key("collector_url") && g.contains_key("collector_urls") {
            return Err(bad(
                "gateway.collector_urls",
                "is set beside gateway.collector_url; use one (list every collector in collector_urls)",
            ));
        }
    }
    serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().message().to_string();
        // An unknown key's path ends at the table holding it: name the key itself.
        let unknown = msg
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_string);
        let key = match (path.as_str(), unknown) {
            (".", Some(k)) => k,
            (p, Some(k)) if !p.ends_with(&k) => format!("{p}.{k}"),
            (".", None) => "configuration".into(),
            (p, _) => p.to_string(),
        };
        bad(key, msg)
    })
}

/// Environment variable names for every leaf key of the configuration.
pub fn env_keys() -> Vec<(String, Vec<String>)> {
    let default = toml::Value::try_from(FileConfig::default())
        .unwrap_or(toml::Value::Table(toml::Table::new()));
    let mut out = Vec::new();
    walk(&default, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                path.push(k.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        // Arrays of tables (`[[routes]]`) come from the file only.
        toml::Value::Array(_) => {}
        _ => out.push((
            format!("GATEWATCH_{}", path.join("_").to_uppercase()),
            path.clone(),
        )),
    }
}

/// `GATEWATCH_ALERTER_SECRETS_<NAME>` sets `[alerter.secrets] <name>`.
const SECRET_ENV_PREFIX: &str = "GATEWATCH_ALERTER_SECRETS_";

/// `[alerter] allowed_networks` from the environment, comma-separated (lists have no other
/// spelling there).
const ALLOWED_NETWORKS_ENV: &str = "GATEWATCH_ALERTER_ALLOWED_NETWORKS";

/// `[gateway] collector_urls` from the environment, comma-separated.
pub const COLLECTOR_URLS_ENV: &str = "GATEWATCH_GATEWAY_COLLECTOR_URLS";

fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    if let Some((_, raw)) = env.iter().find(|(k, _)| k == COLLECTOR_URLS_ENV) {
        // Empty items are kept, so "a,,b" is refused naming its place rather than read as two.
        let list = raw
            .split(',')
            .map(|s| toml::Value::String(s.trim().to_string()))
            .collect();
        table
            .entry("gateway")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| bad("gateway", "must be a table"))?
            .insert("collector_urls".into(), toml::Value::Array(list));
        // The environment overrides the file: its list replaces the file's single URL.
        if let Some(g) = table.get_mut("gateway").and_then(toml::Value::as_table_mut) {
            g.remove("collector_url");
        }
    }
    if let Some((_, raw)) = env.iter().find(|(k, _)| k == ALLOWED_NETWORKS_ENV) {
        let list = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_string()))
            .collect();
        table
            .entry("alerter")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| bad("alerter", "must be a table"))?
            .insert("allowed_networks".into(), toml::Value::Array(list));
    }
    for (name, raw) in env {
        let Some(secret) = name.strip_prefix(SECRET_ENV_PREFIX) else {
            continue;
        };
        let alerter = table
            .entry("alerter")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| bad("alerter", "must be a table"))?;
        alerter
            .entry("secrets")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| bad("alerter.secrets", "must be a table"))?
            .insert(secret.to_lowercase(), toml::Value::String(raw.clone()));
    }
    for (name, path) in env_keys() {
        let Some((_, raw)) = env.iter().find(|(k, _)| *k == name) else {
            continue;
        };
        // A number or boolean where the default is one; text otherwise.
        let default = path.iter().try_fold(
            toml::Value::try_from(FileConfig::default()).map_err(|e| bad(&name, e.to_string()))?,
            |v, k| v.get(k).cloned().ok_or(()),
        );
        let value = match default {
            Ok(toml::Value::Integer(_)) => toml::Value::Integer(
                raw.trim()
                    .parse()
                    .map_err(|_| bad(&name, format!("{raw:?} is not a whole number")))?,
            ),
            Ok(toml::Value::Boolean(_)) => toml::Value::Boolean(
                raw.trim()
                    .parse()
                    .map_err(|_| bad(&name, format!("{raw:?} is not true or false")))?,
            ),
            _ => toml::Value::String(raw.clone()),
        };
        let mut t = &mut *table;
        for k in &path[..path.len() - 1] {
            let entry = t
                .entry(k.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry
                .as_table_mut()
                .ok_or_else(|| bad(k.clone(), "must be a table"))?;
        }
        // The environment overrides the file: its single collector URL replaces the file's
        // list (both from the environment stay a conflict, refused in `from_table`).
        if name == "GATEWATCH_GATEWAY_COLLECTOR_URL"
            && !env.iter().any(|(k, _)| k == COLLECTOR_URLS_ENV)
        {
            t.remove("collector_urls");
        }
        t.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

impl FileConfig {
    /// Checks every value and builds each role's configuration.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let timezone: chrono_tz::Tz = self.timezone.parse().map_err(|_| {
            bad(
                "timezone",
                format!(
                    "{:?} is not an IANA time zone (e.g. Asia/Taipei)",
                    self.timezone
                ),
            )
        })?;
        let node = if self.node.is_empty() {
            host_name()
        } else {
            self.node.clone()
        };
        http_or_https_url("clickhouse.url", &self.clickhouse.url)?;
        let clickhouse_ca = clickhouse_ca(&self.clickhouse)?;
        if self.clickhouse.database.is_empty() {
            return Err(bad("clickhouse.database", "must not be empty"));
        }
        check_cluster_name(&self.clickhouse.cluster)?;
        let g = &self.gateway;
        let collector_urls = collector_urls(g)?;
        let collector_ca_file = collector_ca_file(g, &collector_urls)?;
        positive("gateway.queue_capacity", g.queue_capacity as u64)?;
        positive("gateway.batch_max_records", g.batch_max_records as u64)?;
        positive("gateway.flush_interval_ms", g.flush_interval_ms)?;
        positive("gateway.sample_interval_secs", g.sample_interval_secs)?;
        positive(
            "gateway.upstream_connect_timeout_ms",
            g.upstream_connect_timeout_ms,
        )?;
        positive("gateway.upstream_timeout_ms", g.upstream_timeout_ms)?;
        positive("gateway.upgrade_idle_timeout_ms", g.upgrade_idle_timeout_ms)?;
        let mut gateway = gatewatch_gateway::GatewayConfig::new(
            listen_addr("gateway.listen", &g.listen)?,
            node.clone(),
            g.collector_url.trim_end_matches('/').to_string(),
            self.data_dir.join("spool"),
        );
        gateway.admin_listen = listen_addr("gateway.admin_listen", &g.admin_listen)?;
        gateway.collector_ca_file = collector_ca_file;
        gateway.collector_urls = collector_urls;
        gateway.collector_order = g
            .collector_order
            .parse()
            .map_err(|m| bad("gateway.collector_order", m))?;
        let gl = limits("gateway", g.max_connections, g.header_read_timeout_ms)?;
        gateway.max_connections = gl.max_connections;
        gateway.header_read_timeout = gl.header_read_timeout;
        if g.batch_max_bytes < gatewatch_gateway::MIN_BATCH_MAX_BYTES {
            return Err(bad(
                "gateway.batch_max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        gateway.batch_max_bytes = g.batch_max_bytes;
        gateway.spool_max_bytes = g.spool_max_mb << 20;
        gateway.journal_max_bytes = g.journal_max_mb.saturating_mul(1 << 20);
        gateway.journal_fsync = g
            .journal_fsync
            .parse()
            .map_err(|m: String| bad("gateway.journal_fsync", m))?;
        gateway.queue_capacity = g.queue_capacity;
        gateway.batch_max_records = g.batch_max_records;
        gateway.flush_interval = Duration::from_millis(g.flush_interval_ms);
        gateway.sample_interval = Duration::from_secs(g.sample_interval_secs);
        gateway.upstream_connect_timeout = Duration::from_millis(g.upstream_connect_timeout_ms);
        gateway.upstream_timeout = Duration::from_millis(g.upstream_timeout_ms);
        gateway.upgrade_idle_timeout = Duration::from_millis(g.upgrade_idle_timeout_ms);
        gatewatch_gateway::check_upstream_ca_files(&g.upstream_ca_files)
            .map_err(|(i, m)| bad(format!("gateway.upstream_ca_files[{i}]"), m))?;
        gateway.upstream_ca_files = g.upstream_ca_files.clone();
        for (i, r) in self.routes.iter().enumerate() {
            gateway.routes.push(route(i, r)?);
        }
        gateway.snapshot_dir = Some(self.data_dir.join("snapshot"));
        gateway.timezone = timezone;
        gateway.trusted_proxies = g.trusted_proxies.clone();
        gatewatch_model::policy::check_deny_list("gateway.ip_deny", &g.ip_deny)
            .map_err(|e| bad(e.field, e.message))?;
        gateway.ip_deny = g.ip_deny.clone();
        positive("gateway.max_inflight", g.max_inflight as u64)?;
        positive("gateway.queue_wait_ms", g.queue_wait_ms)?;
        positive("gateway.quota_sync_ms", g.quota_sync_ms)?;
        gateway.gate = gatewatch_gateway::GateConfig {
            max_inflight: g.max_inflight,
            queue_max: g.queue_max,
            max_wait: Duration::from_millis(g.queue_wait_ms),
        };
        gateway.quota_sync = Duration::from_millis(g.quota_sync_ms);
        gateway.client_header = g.client_header.clone();
        gateway.tracing = g.tracing;
        if g.node_groups.is_empty() {
            return Err(bad("gateway.node_groups", "must name at least one group"));
        }
        gatewatch_model::node::check_groups("gateway.node_groups", &g.node_groups)
            .map_err(|e| bad(e.field, e.message))?;
        gateway.node_groups = g.node_groups.clone();
        gateway.otlp = (!g.otlp.endpoint.is_empty()).then(|| gatewatch_gateway::OtlpConfig {
            endpoint: g.otlp.endpoint.clone(),
            service_name: g.otlp.service_name.clone(),
            timeout: Duration::from_millis(g.otlp.timeout_ms),
            queue_capacity: g.otlp.queue_capacity,
            batch_max_spans: g.otlp.batch_max_spans,
            flush_interval: Duration::from_millis(g.otlp.flush_interval_ms),
        });
        gateway.jwt = jwt_keys(&g.jwt)?;
        gateway.jwt_client_claim = g.jwt.client_claim.clone();
        gateway.jwt_leeway = Duration::from_secs(g.jwt.leeway_secs);
        for (key, v) in [
            ("gateway.jwt.issuer", &g.jwt.issuer),
            ("gateway.jwt.audience", &g.jwt.audience),
        ] {
            // A value with edge spaces can never equal a claim someone meant.
            if v.trim() != v || v.chars().any(char::is_control) {
                return Err(bad(
                    key,
                    "must not have leading or trailing spaces or control characters",
                ));
            }
        }
        gateway.tls = gateway_tls(&g.tls)?;
        gateway.oauth = gatewatch_gateway::OauthConfig {
            issuer: Some(g.oauth.issuer.clone()).filter(|s| !s.is_empty()),
            audience: Some(g.oauth.audience.clone()).filter(|s| !s.is_empty()),
            token_ttl: Duration::from_secs(g.oauth.token_ttl_secs),
            signing_alg: g.oauth.signing_alg.clone(),
            // bearer: checked here so that a bad one names its key and exits 2.
            trusted_issuers: trusted_issuers(&g.oauth, &format!("http://{}", gateway.listen))?,
        };
        gateway.jwt_issuer = Some(g.jwt.issuer.clone()).filter(|s| !s.is_empty());
        gateway.jwt_audience = Some(g.jwt.audience.clone()).filter(|s| !s.is_empty());
        let mut prefixes: Vec<&str> = self.routes.iter().map(|r| r.prefix.as_str()).collect();
        prefixes.sort();
        if let Some(w) = prefixes.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad("routes", format!("prefix {:?} is defined twice", w[0])));
        }

        // The gateway's own checks (route shapes, upstream URLs) run now, so they exit 2 too.
        gateway.check().map_err(|e| match e {
            gatewatch_gateway::Error::Config { field, message } => {
                let field = match field.strip_prefix("jwt[") {
                    Some(_) => format!("gateway.jwt ({field})"),
                    None if field == "jwt_client_claim" => "gateway.jwt.client_claim".into(),
                    None if field.starts_with("trusted_proxies")
                        || field.starts_with("oauth.")
                        || field.starts_with("otlp.")
                        || field == "admin_listen"
                        || field == "client_header"
                        || field.starts_with("collector_") =>
                    {
                        format!("gateway.{field}")
                    }
                    None => field,
                };
                bad(field, message)
            }
            other => bad("gateway", other.to_string()),
        })?;

        let c = &self.collector;
        positive("collector.wal_max_mb", c.wal_max_mb)?;
        positive("collector.max_body_mb", c.max_body_mb as u64)?;
        positive("collector.insert_max_rows", c.insert_max_rows as u64)?;
        positive("collector.insert_period_ms", c.insert_period_ms)?;
        let mut collector = gatewatch_collector::CollectorConfig::new(
            listen_addr("collector.listen", &c.listen)?,
            self.data_dir.join("wal"),
            &node,
        );
        collector.wal.max_bytes = c.wal_max_mb << 20;
        collector.max_body_bytes = c.max_body_mb << 20;
        collector.max_decoded_bytes = (c.max_body_mb << 20).saturating_mul(8);
        collector.inserter.max_rows = c.insert_max_rows;
        collector.inserter.period = Duration::from_millis(c.insert_period_ms);
        collector.limits = limits("collector", c.max_connections, c.header_read_timeout_ms)?;
        collector.max_record_age = gatewatch_collector::bounds::parse_duration(&c.max_record_age)
            .map_err(|m| bad("collector.max_record_age", m))?;
        collector.registered_nodes_only = c.registered_nodes_only;
        collector.inserter.cluster =
            collector_cluster(&self.clickhouse, &self.clickhouse.cluster, c)?;
        collector.tls = role_tls("collector.tls", &c.tls)?.map(|(listen, tls, reload_interval)| {
            gatewatch_collector::TlsListen {
                listen,
                tls,
                reload_interval,
            }
        });
        let token = &self.security.ingest_token;
        if !token.is_empty() && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(bad(
                "security.ingest_token",
                "must be at least 16 visible ASCII characters (no spaces); empty: derived from the pepper",
            ));
        }

        let compression = match self.clickhouse.compression.as_str() {
            "lz4" => gatewatch_store::WireCompression::Lz4,
            "none" => gatewatch_store::WireCompression::None,
            other => {
                return Err(bad(
                    "clickhouse.compression",
                    format!("{other:?} is not one of lz4, none"),
                ))
            }
        };
        let store = gatewatch_store::StoreConfig {
            url: self.clickhouse.url.trim_end_matches('/').to_string(),
            database: self.clickhouse.database.clone(),
            user: self.clickhouse.user.clone(),
            password: self.clickhouse.password.clone(),
            compression,
            ca: clickhouse_ca,
            cluster: (!self.clickhouse.cluster.is_empty()).then(|| self.clickhouse.cluster.clone()),
        };
        positive("dashboards.session_hours", self.dashboards.session_hours)?;
        if self.dashboards.session_hours > 24 * 30 {
            return Err(bad(
                "dashboards.session_hours",
                "must be at most 720 (30 days)",
            ));
        }
        let d = &self.dashboards;
        let mut dashboards_trusted_proxies = Vec::with_capacity(d.trusted_proxies.len());
        for (i, c) in d.trusted_proxies.iter().enumerate() {
            dashboards_trusted_proxies.push(
                gatewatch_model::client::parse_cidr(c)
                    .map_err(|m| bad(format!("dashboards.trusted_proxies[{i}]"), m))?,
            );
        }
        if !(1..=64).contains(&d.max_password_checks) {
            return Err(bad("dashboards.max_password_checks", "must be 1 to 64"));
        }
        if d.password_check_wait_ms > 10_000 {
            return Err(bad(
                "dashboards.password_check_wait_ms",
                "must be 0 to 10000 (10 s)",
            ));
        }
        // APIs registered in the configuration log reach the gateway without a restart.
        gateway.config_store = Some(store.clone());
        let a = &self.alerter;
        if !(100..=600_000).contains(&a.eval_interval_ms) {
            return Err(bad(
                "alerter.eval_interval_ms",
                "must be 100 to 600000 (10 minutes)",
            ));
        }
        if a.lease_ttl_ms <= 2 * a.eval_interval_ms {
            return Err(bad(
                "alerter.lease_ttl_ms",
                format!(
                    "must be more than twice alerter.eval_interval_ms ({} ms): the holder renews it every round",
                    a.eval_interval_ms
                ),
            ));
        }
        if !a.link_base.is_empty() {
            let uri: http::Uri = a.link_base.parse().map_err(|e| {
                bad(
                    "alerter.link_base",
                    format!("{:?} is not a URL: {e}", a.link_base),
                )
            })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(bad(
                    "alerter.link_base",
                    format!("{:?} must be an http:// or https:// URL", a.link_base),
                ));
            }
        }

        let alerter_language = match a.language.as_str() {
            "zh-TW" => gatewatch_model::alert::Lang::ZhTw,
            "en" => gatewatch_model::alert::Lang::En,
            other => {
                return Err(bad(
                    "alerter.language",
                    format!("{other:?} is not one of zh-TW, en"),
                ))
            }
        };

        let alerter_url = self
            .dashboards
            .alerter_url
            .trim_end_matches('/')
            .to_string();
        {
            let uri: http::Uri = alerter_url.parse().map_err(|e| {
                bad(
                    "dashboards.alerter_url",
                    format!("{alerter_url:?} is not a URL: {e}"),
                )
            })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(bad(
                    "dashboards.alerter_url",
                    format!("{alerter_url:?} must be an http:// or https:// URL"),
                ));
            }
        }

        Ok(Config {
            data_dir: self.data_dir.clone(),
            timezone,
            node,
            store,
            gateway,
            collector,
            dashboards_listen: listen_addr("dashboards.listen", &self.dashboards.listen)?,
            dashboards_tls: role_tls("dashboards.tls", &self.dashboards.tls)?.map(
                |(listen, tls, reload_interval)| gatewatch_dashboards::TlsListen {
                    listen,
                    tls,
                    reload_interval,
                },
            ),
            dashboards_limits: limits(
                "dashboards",
                self.dashboards.max_connections,
                self.dashboards.header_read_timeout_ms,
            )?,
            alerter_limits: limits("alerter", a.max_connections, a.header_read_timeout_ms)?,
            reports_limits: limits(
                "reports",
                self.reports.max_connections,
                self.reports.header_read_timeout_ms,
            )?,
            dashboards_secure_cookies: self.dashboards.secure_cookies,
            dashboards_session_ttl: Duration::from_secs(self.dashboards.session_hours * 3600),
            dashboards_alerter_url: alerter_url,
            dashboards_trusted_proxies,
            dashboards_max_password_checks: d.max_password_checks as usize,
            dashboards_password_check_wait: Duration::from_millis(d.password_check_wait_ms),
            alerter_listen: listen_addr("alerter.listen", &self.alerter.listen)?,
            alerter_eval_interval: Duration::from_millis(a.eval_interval_ms),
            alerter_lease_ttl: Duration::from_millis(a.lease_ttl_ms),
            alerter_link_base: a.link_base.trim_end_matches('/').to_string(),
            alerter_language,
            alerter: alerter(&self.alerter)?,
            reports_listen: listen_addr("reports.listen", &self.reports.listen)?,
            reports_poll: Duration::from_millis(self.reports.poll_ms),
            reports_lease_ttl: Duration::from_millis(self.reports.lease_ttl_ms),
            reports_retries: self.reports.retries,
            reports_backoff: Duration::from_secs(self.reports.retry_backoff_secs),
            reports_catch_up: Duration::from_secs(self.reports.catch_up_secs),
            reports_smtp: reports_smtp(&self.reports, &self.alerter)?,
            portal: gatewatch_portal::PortalConfig {
                listen: listen_addr("portal.listen", &self.portal.listen)?,
                limits: limits(
                    "portal",
                    self.portal.max_connections,
                    self.portal.header_read_timeout_ms,
                )?,
            },
            retention: retention(&self.retention)?,
            // A font that cannot be read is not a reason to refuse to start: the chart code
            // warns and falls back to the default fonts.
            reports_font: (!self.reports.font.trim().is_empty())
                .then(|| PathBuf::from(self.reports.font.trim())),
            security: self.security.clone(),
        })
    }
}

/// `[alerter]`'s notification settings, checked.
/// `[[gateway.oauth.trusted_issuers]]`: each with an issuer, an `https://` JWKS URL (`http://`
/// only to loopback) and an audience; no issuer twice, none the gateway's own (`own_default`:
/// its `iss` when `gateway.oauth.issuer` is empty).
fn trusted_issuers(
    o: &OauthSection,
    own_default: &str,
) -> Result<Vec<gatewatch_gateway::TrustedIssuer>, ConfigError> {
    let own = if o.issuer.is_empty() {
        own_default
    } else {
        o.issuer.as_str()
    };
    let mut out: Vec<gatewatch_gateway::TrustedIssuer> = Vec::new();
    for (i, t) in o.trusted_issuers.iter().enumerate() {
        let key = |f: &str| format!("gateway.oauth.trusted_issuers[{i}].{f}");
        for (f, v) in [("issuer", &t.issuer), ("audience", &t.audience)] {
            if v.is_empty() {
                return Err(bad(key(f), "must not be empty"));
            }
            // A value with edge spaces can never equal a claim someone meant.
            if v.trim() != v || v.chars().any(char::is_control) {
                return Err(bad(
                    key(f),
                    "must not have leading or trailing spaces or control characters",
                ));
            }
        }
        if t.issuer == own {
            return Err(bad(
                key("issuer"),
                format!("{own:?} is the gateway's own issuer (its tokens are verified with its own keys)"),
            ));
        }
        if let Some(j) = out.iter().position(|p| p.issuer == t.issuer) {
            return Err(bad(
                key("issuer"),
                format!("{:?} is already trusted_issuers[{j}]", t.issuer),
            ));
        }
        gatewatch_gateway::check_jwks_uri(&t.jwks_uri).map_err(|m| bad(key("jwks_uri"), m))?;
        out.push(gatewatch_gateway::TrustedIssuer {
            issuer: t.issuer.clone(),
            jwks_uri: t.jwks_uri.clone(),
            audience: t.audience.clone(),
        });
    }
    Ok(out)
}

fn alerter(a: &AlerterSection) -> Result<gatewatch_alerter::AlerterConfig, ConfigError> {
    use gatewatch_alerter::notify::{LineConfig, Secrets};
    if a.retries > 10 {
        return Err(bad("alerter.retries", "must be 0 to 10"));
    }
    let smtp = smtp_server("alerter.smtp", &a.smtp)?;
    let l = &a.line;
    let uri: http::Uri = l.base_url.parse().map_err(|e| {
        bad(
            "alerter.line.base_url",
            format!("{:?} is not a URL: {e}", l.base_url),
        )
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(bad(
            "alerter.line.base_url",
            format!("{:?} must be an http:// or https:// URL", l.base_url),
        ));
    }
    positive("alerter.line.timeout_secs", l.timeout_secs)?;
    let mut secrets = BTreeMap::new();
    for (name, value) in &a.secrets {
        let key = format!("alerter.secrets.{name}");
        gatewatch_model::field::check_id(&key, name).map_err(|e| bad(&key, e.message))?;
        if value.len() < 16 {
            return Err(bad(key, "must be at least 16 bytes"));
        }
        secrets.insert(name.clone(), value.as_bytes().to_vec());
    }
    let allowed = gatewatch_model::outbound::parse_networks(&a.allowed_networks)
        .map_err(|(i, m)| bad(format!("alerter.allowed_networks[{i}]"), m))?;
    Ok(gatewatch_alerter::AlerterConfig {
        notify: gatewatch_alerter::NotifyConfig {
            outbound: gatewatch_model::outbound::Policy::new(allowed),
            smtp,
            line: LineConfig {
                base_url: l.base_url.trim_end_matches('/').to_string(),
                channel_access_token: l.channel_access_token.clone(),
                timeout: Duration::from_secs(l.timeout_secs),
            },
            secrets: Secrets::new(secrets),
            retries: a.retries,
            ..Default::default()
        },
    })
}

/// `[reports]`' SMTP server: its own when `[reports.smtp] host` is set, else `[alerter.smtp]`'s;
/// errors name the section the settings came from.
fn reports_smtp(r: &ReportsSection, a: &AlerterSection) -> Result<Option<SmtpConfig>, ConfigError> {
    positive("reports.poll_ms", r.poll_ms)?;
    if r.lease_ttl_ms < 2 * r.poll_ms {
        return Err(bad(
            "reports.lease_ttl_ms",
            "must be at least twice reports.poll_ms (the holder renews it every poll)",
        ));
    }
    if r.retries > 10 {
        return Err(bad("reports.retries", "must be 0 to 10"));
    }
    positive("reports.retry_backoff_secs", r.retry_backoff_secs)?;
    if r.catch_up_secs > 7 * 86_400 {
        return Err(bad(
            "reports.catch_up_secs",
            "must be at most 604800 (7 days); 0 turns catching up off",
        ));
    }
    let (key, s) = if r.smtp.host.is_empty() {
        ("alerter.smtp", &a.smtp)
    } else {
        ("reports.smtp", &r.smtp)
    };
    smtp_server(key, s)
}

/// An SMTP section (`key` names it in errors), checked: `None` when no host is set.
fn smtp_server(key: &str, s: &SmtpSection) -> Result<Option<SmtpConfig>, ConfigError> {
    if s.host.is_empty() {
        return Ok(None);
    }
    let tls = match s.tls.as_str() {
        "none" => SmtpTls::None,
        "starttls" => SmtpTls::Starttls,
        "tls" => SmtpTls::Tls,
        other => {
            return Err(bad(
                format!("{key}.tls"),
                format!("{other:?} is not one of none, starttls, tls"),
            ))
        }
    };
    // `Name <address>` or a bare address.
    let address = match (s.from.rfind('<'), s.from.ends_with('>')) {
        (Some(i), true) => &s.from[i + 1..s.from.len() - 1],
        _ => s.from.trim(),
    };
    if !gatewatch_model::user::looks_like_email(address) {
        return Err(bad(
            format!("{key}.from"),
            format!(
                "{:?} is not an e-mail address (set it when host is set)",
                s.from
            ),
        ));
    }
    positive(&format!("{key}.timeout_secs"), s.timeout_secs)?;
    let ca_pem = if s.ca_file.is_empty() {
        None
    } else {
        let pem = std::fs::read(&s.ca_file).map_err(|e| {
            bad(
                format!("{key}.ca_file"),
                format!("cannot read {:?}: {e}", s.ca_file),
            )
        })?;
        if !pem.starts_with(b"-----BEGIN") {
            return Err(bad(format!("{key}.ca_file"), "is not a PEM certificate"));
        }
        Some(pem)
    };
    Ok(Some(SmtpConfig {
        host: s.host.clone(),
        port: if s.port == 0 {
            tls.default_port()
        } else {
            s.port
        },
        tls,
        user: s.user.clone(),
        password: s.password.clone(),
        from: s.from.clone(),
        timeout: Duration::from_secs(s.timeout_secs),
        ca_pem,
    }))
}

/// `[retention]`, checked.
fn retention(
    r: &RetentionSection,
) -> Result<Option<gatewatch_reports::retention::RetentionPolicy>, ConfigError> {
    for (key, days) in [
        ("retention.raw_days", r.raw_days),
        ("retention.rollup_days", r.rollup_days),
    ] {
        if !(1..=36_500).contains(&days) {
            return Err(bad(key, "must be 1 to 36500 days"));
        }
    }
    Ok(r.enabled
        .then_some(gatewatch_reports::retention::RetentionPolicy {
            raw_days: r.raw_days,
            rollup_days: r.rollup_days,
        }))
}

/// The JWT keys of `[gateway.jwt]`: HS256 secrets first, then RS256 keys (PEM text or a file).
fn jwt_keys(j: &JwtSection) -> Result<Vec<gatewatch_gateway::JwtKey>, ConfigError> {
    let mut keys = Vec::new();
    for (i, s) in j.hs256_secrets.iter().enumerate() {
        if s.len() < 16 {
            return Err(bad(
                format!("gateway.jwt.hs256_secrets[{i}]"),
                "must be at least 16 bytes",
            ));
        }
        keys.push(gatewatch_gateway::JwtKey::Hs256 {
            secret: s.as_bytes().to_vec(),
        });
    }
    for (i, k) in j.rs256_public_keys.iter().enumerate() {
        let key = format!("gateway.jwt.rs256_public_keys[{i}]");
        let pem = if k.trim_start().starts_with("-----BEGIN") {
            k.clone()
        } else {
            std::fs::read_to_string(k).map_err(|e| bad(&key, format!("cannot read {k:?}: {e}")))?
        };
        keys.push(gatewatch_gateway::JwtKey::Rs256 {
            public_key_pem: pem,
        });
    }
    Ok(keys)
}

fn route(i: usize, r: &RouteSection) -> Result<gatewatch_gateway::RouteConfig, ConfigError> {
    let key = |field: &str| format!("routes[{i}].{field}");
    if !r.prefix.starts_with('/') {
        return Err(bad(
            key("prefix"),
            format!("{:?} must start with '/'", r.prefix),
        ));
    }
    if r.upstreams.is_empty() {
        return Err(bad(key("upstreams"), "must not be empty"));
    }
    for (j, u) in r.upstreams.iter().enumerate() {
        let key = format!("routes[{i}].upstreams[{j}]");
        // https: checked with the system's roots and `[gateway] upstream_ca_files`.
        match u.strip_prefix("https://") {
            Some(rest) => http_url(&key, &format!("http://{rest}"))?,
            None if !u.starts_with("http://") => {
                return Err(bad(
                    key,
                    format!("{u:?} must start with http:// or https://"),
                ))
            }
            None => http_url(&key, u)?,
        }
    }
    let api_id = r.api_id.clone().unwrap_or_else(|| r.prefix.clone());
    if api_id.is_empty() {
        return Err(bad(key("api_id"), "must not be empty"));
    }
    Ok(gatewatch_gateway::RouteConfig {
        prefix: r.prefix.clone(),
        upstreams: r
            .upstreams
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        strip_prefix: r.strip_prefix,
        api_name: r.name.clone().unwrap_or_else(|| api_id.clone()),
        api_id,
        spec: None,
    })
}

fn http_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let uri: http::Uri = value
        .parse()
        .map_err(|e| bad(key, format!("{value:?} is not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad(key, format!("{value:?} must start with http://")));
    }
    if uri.host().is_none() {
        return Err(bad(key, format!("{value:?} has no host")));
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host.
/// The collector's view of the cluster (`[clickhouse] cluster`, `urls`, `[collector]
/// cluster_insert`); `None` on one server.
fn collector_cluster(
    ch: &ClickHouseSection,
    cluster: &str,
    c: &CollectorSection,
) -> Result<Option<gatewatch_collector::cluster::ClusterConfig>, ConfigError> {
    use gatewatch_collector::cluster::{ClusterConfig, ClusterMode};
    let mut urls = Vec::new();
    for (i, u) in ch.urls.iter().enumerate() {
        let key = format!("clickhouse.urls[{i}]");
        http_or_https_url(&key, u)?;
        let u = u.trim_end_matches('/').to_string();
        if urls.contains(&u) {
            return Err(bad(key, format!("{u:?} is listed twice")));
        }
        urls.push(u);
    }
    let mode = match c.cluster_insert.as_str() {
        "" if urls.is_empty() => ClusterMode::Distributed,
        "" => ClusterMode::Shards,
        m => ClusterMode::parse(m).ok_or_else(|| {
            bad(
                "collector.cluster_insert",
                format!("{m:?} is not one of shards, distributed"),
            )
        })?,
    };
    if cluster.is_empty() {
        if !urls.is_empty() {
            return Err(bad(
                "clickhouse.urls",
                "lists the servers of a cluster: set clickhouse.cluster too (one server: url alone)",
            ));
        }
        return Ok(None);
    }
    if mode == ClusterMode::Shards && urls.is_empty() {
        return Err(bad(
            "collector.cluster_insert",
            "\"shards\" needs every server of the cluster in clickhouse.urls",
        ));
    }
    if urls.is_empty() {
        urls.push(ch.url.trim_end_matches('/').to_string());
    }
    Ok(Some(ClusterConfig {
        name: cluster.to_string(),
        urls,
        mode,
    }))
}

fn http_or_https_url(key: &str, value: &str) -> Result<(), ConfigError> {
    match value.strip_prefix("https://") {
        Some(rest) => http_url(key, &format!("http://{rest}")),
        None if value.starts_with("http://") => http_url(key, value),
        None => Err(bad(
            key,
            format!("{value:?} must start with http:// or https://"),
        )),
    }
}

/// The CA certificates of a TLS hop's `ca_file` key (`key`): `None` when empty; a file that
/// cannot be read or holds no CA certificate is an error naming the key.
fn ca_pem(key: &str, file: &str) -> Result<Option<Vec<u8>>, ConfigError> {
    if file.is_empty() {
        return Ok(None);
    }
    if file.trim().is_empty() {
        return Err(bad(key, "must name a PEM file (or be empty)"));
    }
    let pem = std::fs::read(file).map_err(|e| bad(key, format!("cannot read {file:?}: {e}")))?;
    Ok(Some(pem))
}

/// `[gateway] collector_urls` (trailing `/` cut), or `collector_url` checked when it is not
/// given. The gateway checks each entry again (duplicates, user information, the count) and
/// names it `gateway.collector_urls[N]`.
fn collector_urls(g: &GatewaySection) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "gateway.collector_urls";
    let Some(urls) = &g.collector_urls else {
        http_or_https_url("gateway.collector_url", &g.collector_url)?;
        return Ok(Vec::new());
    };
    if urls.is_empty() {
        return Err(bad(KEY, "must list at least one collector URL"));
    }
    if urls.len() > gatewatch_gateway::MAX_COLLECTORS {
        return Err(bad(
            KEY,
            format!(
                "lists {} collectors; at most {} (put a load balancer in front of more)",
                urls.len(),
                gatewatch_gateway::MAX_COLLECTORS
            ),
        ));
    }
    for (i, u) in urls.iter().enumerate() {
        http_or_https_url(&format!("{KEY}[{i}]"), u)?;
    }
    Ok(urls
        .iter()
        .map(|u| u.trim_end_matches('/').to_string())
        .collect())
}

/// `[gateway] collector_ca_file`, checked (read and parsed now, read again when the gateway
/// starts); only with an `https://` collector.
fn collector_ca_file(g: &GatewaySection, urls: &[String]) -> Result<Option<PathBuf>, ConfigError> {
    const KEY: &str = "gateway.collector_ca_file";
    let Some(pem) = ca_pem(KEY, &g.collector_ca_file)? else {
        return Ok(None);
    };
    let https = match urls.is_empty() {
        true => g.collector_url.starts_with("https://"),
        false => urls.iter().any(|u| u.starts_with("https://")),
    };
    if !https {
        let (key, value) = match urls.is_empty() {
            true => ("collector_url", format!("{:?}", g.collector_url)),
            false => ("collector_urls", format!("{urls:?}")),
        };
        return Err(bad(
            KEY,
            format!("is set but gateway.{key} {value} is not https:// (nothing would be checked)"),
        ));
    }
    gatewatch_store::tls::CaPem::parse(pem)
        .map_err(|m| bad(KEY, format!("{:?} {m}", g.collector_ca_file)))?;
    Ok(Some(PathBuf::from(&g.collector_ca_file)))
}

/// `[clickhouse] cluster`: a name from the servers' `remote_servers`, spliced into DDL as a
/// quoted identifier; kept to the characters such names use so a typo reads as one.
fn check_cluster_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Ok(());
    }
    let ok = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(bad(
            "clickhouse.cluster",
            format!("{name:?} is not a cluster name (1-64 of A-Z a-z 0-9 _ - .)"),
        ))
    }
}

/// `[clickhouse] ca_file`, read and checked; only with an `https://` url (a CA given for a
/// plain URL would suggest a protection that is not there).
fn clickhouse_ca(
    c: &ClickHouseSection,
) -> Result<Option<gatewatch_store::tls::CaPem>, ConfigError> {
    let Some(pem) = ca_pem("clickhouse.ca_file", &c.ca_file)? else {
        return Ok(None);
    };
    if !c.url.starts_with("https://") {
        return Err(bad(
            "clickhouse.ca_file",
            format!(
                "is set but clickhouse.url {:?} is not https:// (nothing would be checked)",
                c.url
            ),
        ));
    }
    gatewatch_store::tls::CaPem::parse(pem)
        .map(Some)
        .map_err(|m| bad("clickhouse.ca_file", format!("{:?} {m}", c.ca_file)))
}

fn listen_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        bad(
            key,
            format!("{value:?} is not an address such as 127.0.0.1:8080"),
        )
    })
}

/// `[gateway.tls]`, checked, with its certificates read: a file that cannot be read, is not
/// PEM, or whose key is not the certificate's is named by its key.
fn gateway_tls(t: &GatewayTlsSection) -> Result<Option<gatewatch_gateway::TlsListen>, ConfigError> {
    use gatewatch_listen::tls::{CertFiles, Tls, Which};
    if t.listen.trim().is_empty() {
        if !t.cert_file.is_empty()
            || !t.key_file.is_empty()
            || !t.certs.is_empty()
            || !t.client_ca_file.is_empty()
        {
            return Err(bad(
                "gateway.tls.listen",
                "must be set when certificates are (an address such as 0.0.0.0:8443)",
            ));
        }
        return Ok(None);
    }
    let listen = listen_addr("gateway.tls.listen", &t.listen)?;
    positive("gateway.tls.reload_interval_ms", t.reload_interval_ms)?;
    let mut files = Vec::with_capacity(1 + t.certs.len());
    let mut pair = |prefix: &str, cert: &str, key: &str, names: Vec<String>| {
        for (k, v) in [("cert_file", cert), ("key_file", key)] {
            if v.trim().is_empty() {
                return Err(bad(format!("{prefix}.{k}"), "must name a PEM file"));
            }
        }
        files.push(CertFiles {
            server_names: names,
            cert_file: PathBuf::from(cert),
            key_file: PathBuf::from(key),
        });
        Ok(())
    };
    pair("gateway.tls", &t.cert_file, &t.key_file, Vec::new())?;
    for (i, c) in t.certs.iter().enumerate() {
        let key = format!("gateway.tls.certs[{i}]");
        if c.server_names.is_empty() {
            return Err(bad(
                format!("{key}.server_names"),
                "must list at least one name",
            ));
        }
        for n in &c.server_names {
            let plain = n.strip_prefix("*.").unwrap_or(n);
            if rustls_pki_types::DnsName::try_from(plain).is_err() || plain.contains('*') {
                return Err(bad(
                    format!("{key}.server_names"),
                    format!("{n:?} is not a DNS name (or *.name)"),
                ));
            }
        }
        pair(&key, &c.cert_file, &c.key_file, c.server_names.clone())?;
    }
    let client_ca = match t.client_ca_file.as_str() {
        "" => None,
        f if f.trim().is_empty() => {
            return Err(bad(
                "gateway.tls.client_ca_file",
                "must name a PEM file of CA certificates (or be left out)",
            ))
        }
        f => Some(PathBuf::from(f)),
    };
    let tls = Tls::load_with_client_ca(files, client_ca).map_err(|e| {
        let prefix = match e.index {
            0 => "gateway.tls".to_string(),
            i => format!("gateway.tls.certs[{}]", i - 1),
        };
        let file = match e.which {
            Which::Cert => "cert_file",
            Which::Key => "key_file",
            Which::ClientCa => "client_ca_file",
        };
        bad(format!("{prefix}.{file}"), e.to_string())
    })?;
    Ok(Some(gatewatch_gateway::TlsListen {
        listen,
        tls: std::sync::Arc::new(tls),
        reload_interval: Duration::from_millis(t.reload_interval_ms),
    }))
}

/// A role's TLS listener (`[collector.tls]`, `[dashboards.tls]`; `section` names it), checked,
/// with its certificate read: `None` while `listen` is empty.
fn role_tls(
    section: &str,
    t: &RoleTlsSection,
) -> Result<
    Option<(
        SocketAddr,
        std::sync::Arc<gatewatch_listen::tls::Tls>,
        Duration,
    )>,
    ConfigError,
> {
    use gatewatch_listen::tls::{CertFiles, Tls, Which};
    if t.listen.trim().is_empty() {
        if !t.cert_file.is_empty() || !t.key_file.is_empty() {
            return Err(bad(
                format!("{section}.listen"),
                "must be set when certificates are (an address such as 0.0.0.0:8443)",
            ));
        }
        return Ok(None);
    }
    let listen = listen_addr(&format!("{section}.listen"), &t.listen)?;
    positive(
        &format!("{section}.reload_interval_ms"),
        t.reload_interval_ms,
    )?;
    for (k, v) in [("cert_file", &t.cert_file), ("key_file", &t.key_file)] {
        if v.trim().is_empty() {
            return Err(bad(format!("{section}.{k}"), "must name a PEM file"));
        }
    }
    let tls = Tls::load(vec![CertFiles {
        server_names: Vec::new(),
        cert_file: PathBuf::from(&t.cert_file),
        key_file: PathBuf::from(&t.key_file),
    }])
    .map_err(|e| {
        let file = match e.which {
            Which::Cert => "cert_file",
            Which::Key => "key_file",
            // No client CA is given to these listeners.
            Which::ClientCa => "cert_file",
        };
        bad(format!("{section}.{file}"), e.to_string())
    })?;
    Ok(Some((
        listen,
        std::sync::Arc::new(tls),
        Duration::from_millis(t.reload_interval_ms),
    )))
}

/// A role's `max_connections` and `header_read_timeout_ms`, checked.
fn limits(
    section: &str,
    max_connections: usize,
    header_read_timeout_ms: u64,
) -> Result<gatewatch_listen::Limits, ConfigError> {
    positive(
        &format!("{section}.max_connections"),
        max_connections as u64,
    )?;
    positive(
        &format!("{section}.header_read_timeout_ms"),
        header_read_timeout_ms,
    )?;
    Ok(gatewatch_listen::Limits {
        max_connections,
        header_read_timeout: Duration::from_millis(header_read_timeout_ms),
    })
}

fn positive(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        Err(bad(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gatewatch.toml");
        std::fs::write(&p, text).unwrap();
        load(Some(&p), &[])?.validate()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = load(None, &[]).unwrap().validate().unwrap();
        assert_eq!(c.gateway.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.collector.listen.to_string(), "127.0.0.1:8091");
        assert_eq!(c.dashboards_listen.to_string(), "127.0.0.1:8090");
        assert_eq!(c.store.database, "gatewatch");
        assert_eq!(c.collector.wal.dir, PathBuf::from("./data/wal"));
        assert_eq!(c.gateway.spool_dir, PathBuf::from("./data/spool"));
        assert_eq!(c.gateway.journal_dir, PathBuf::from("./data/spool/journal"));
        assert_eq!(c.gateway.journal_max_bytes, 256 << 20);
        assert_eq!(
            c.gateway.journal_fsync,
            gatewatch_gateway::JournalFsync::Interval
        );
    }

    #[test]
    fn a_cluster_name_reaches_the_store_and_odd_ones_are_refused() {
        let c = load(None, &[]).unwrap().validate().unwrap();
        assert_eq!(c.store.cluster, None);
        let c = from_str("[clickhouse]\ncluster = \"gatewatch\"").unwrap();
        assert_eq!(c.store.cluster.as_deref(), Some("gatewatch"));
        let env = [(
            "GATEWATCH_CLICKHOUSE_CLUSTER".to_string(),
            "c-1.x".to_string(),
        )];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.store.cluster.as_deref(), Some("c-1.x"));
        for bad in [
            "a` ON CLUSTER b",
            "a b",
            "x;DROP",
            "\u{4e2d}",
            &"c".repeat(65),
        ] {
            let text = format!("[clickhouse]\ncluster = {}", toml::Value::from(bad));
            let err = from_str(&text).unwrap_err().to_string();
            assert!(err.starts_with("clickhouse.cluster:"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_chart_font_is_optional_and_comes_from_file_or_environment() {
        let c = load(None, &[]).unwrap().validate().unwrap();
        assert_eq!(c.reports_font, None);
        assert_eq!(c.reports_listen.to_string(), "127.0.0.1:8093");
        let c = from_str("[reports]\nfont = \"/fonts/a.ttc\"").unwrap();
        assert_eq!(c.reports_font, Some(PathBuf::from("/fonts/a.ttc")));
        assert_eq!(c.reports_listen.to_string(), "127.0.0.1:8093");
        let env = [("GATEWATCH_REPORTS_FONT".to_string(), "/b.otf".to_string())];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.reports_font, Some(PathBuf::from("/b.otf")));
        let err = from_str("[reports]\nfonts = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `fonts`"), "{err}");
    }

    #[test]
    fn the_design_skeleton_parses() {
        let c = from_str(
            r#"
data_dir = "./data"
timezone = "Asia/Taipei"
[clickhouse]
url = "http://127.0.0.1:8123"
database = "gatewatch"
user = "default"
password = ""
[gateway]
listen = "127.0.0.1:8080"
collector_url = "http://127.0.0.1:8091"
[collector]
listen = "127.0.0.1:8091"
[dashboards]
listen = "127.0.0.1:8090"
[[routes]]
prefix = "/demo"
upstreams = ["http://127.0.0.1:9000", "http://127.0.0.1:9001"]
strip_prefix = true
"#,
        )
        .unwrap();
        assert_eq!(c.gateway.routes.len(), 1);
        assert_eq!(c.gateway.routes[0].upstreams.len(), 2);
        assert_eq!(c.gateway.routes[0].api_id, "/demo");
    }

    #[test]
    fn several_collectors_are_listed_and_each_bad_one_is_named() {
        let c = from_str(
            "[gateway]\ncollector_urls = [\"http://c1:8091/\", \"https://c2:8091\"]\ncollector_order = \"listed\"",
        )
        .unwrap();
        assert_eq!(
            c.gateway.collector_urls,
            ["http://c1:8091", "https://c2:8091"]
        );
        assert_eq!(
            c.gateway.collector_order,
            gatewatch_gateway::CollectorOrder::Listed
        );
        // Not given: the single URL, spread (irrelevant with one).
        let c = from_str("").unwrap();
        assert!(c.gateway.collector_urls.is_empty());
        assert_eq!(c.gateway.collector_url, "http://127.0.0.1:8091");
        let hundred: Vec<String> = (0..100).map(|i| format!("\"http://c{i}:8091\"")).collect();
        let cases = [
            (
                "collector_urls = [\"http://c1:8091\", \"ftp://c2:8091\"]".to_string(),
                "gateway.collector_urls[1]: \"ftp://c2:8091\" must start with http:// or https://",
            ),
            (
                "collector_urls = [\"gopher://c1\"]".to_string(),
                "gateway.collector_urls[0]",
            ),
            (
                "collector_urls = [\"http://admin:pw@c1:8091\"]".to_string(),
                "gateway.collector_urls[0]: 'http://…@c1:8091' must not carry user information",
            ),
            (
                "collector_urls = [\"http://c1:8091\", \"http://c1:8091/\"]".to_string(),
                "gateway.collector_urls[1]: 'http://c1:8091' is listed twice",
            ),
            (
                "collector_urls = []".to_string(),
                "gateway.collector_urls: must list at least one collector URL",
            ),
            (
                format!("collector_urls = [{}]", hundred.join(", ")),
                "gateway.collector_urls: lists 100 collectors; at most 16",
            ),
            (
                "collector_urls = \"http://c1:8091\"".to_string(),
                "gateway.collector_urls",
            ),
            ("collector_urls = [1]".to_string(), "gateway.collector_urls"),
            (
                "collector_url = \"http://c0:8091\"\ncollector_urls = [\"http://c1:8091\"]"
                    .to_string(),
                "gateway.collector_urls: is set beside gateway.collector_url",
            ),
            (
                "collector_order = \"random\"".to_string(),
                "gateway.collector_order: \"random\" must be \"spread\" or \"listed\"",
            ),
            (
                "collector_urls = [\"http://c1:8091\"]\ncollector_ca_file = \"/nonexistent.pem\""
                    .to_string(),
                "gateway.collector_ca_file: cannot read",
            ),
        ];
        for (body, want) in cases {
            let err = from_str(&format!("[gateway]\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
        // The environment's spelling: comma-separated; an empty item is refused by place.
        let env = |v: &str| vec![(COLLECTOR_URLS_ENV.to_string(), v.to_string())];
        let c = load(None, &env("http://c1:8091, http://c2:8091"))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            c.gateway.collector_urls,
            ["http://c1:8091", "http://c2:8091"]
        );
        let err = load(None, &env("http://c1:8091,,http://c2:8091"))
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("gateway.collector_urls[1]"), "{err}");
        // Either spelling from the environment replaces the other one in the file; both from
        // the environment conflict.
        let dir = tempfile::tempdir().unwrap();
        let single = dir.path().join("single.toml");
        std::fs::write(&single, "[gateway]\ncollector_url = \"http://c0:8091\"").unwrap();
        let c = load(Some(&single), &env("http://c1:8091,http://c2:8091"))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            c.gateway.collector_urls,
            ["http://c1:8091", "http://c2:8091"]
        );
        let list = dir.path().join("list.toml");
        std::fs::write(&list, "[gateway]\ncollector_urls = [\"http://c1:8091\"]").unwrap();
        let one = vec![(
            "GATEWATCH_GATEWAY_COLLECTOR_URL".to_string(),
            "http://c9:8091".to_string(),
        )];
        let c = load(Some(&list), &one).unwrap().validate().unwrap();
        assert!(c.gateway.collector_urls.is_empty());
        assert_eq!(c.gateway.collector_url, "http://c9:8091");
        let mut both = one.clone();
        both.extend(env("http://c1:8091"));
        let err = load(Some(&list), &both).unwrap_err().to_string();
        assert!(err.contains("is set beside gateway.collector_url"), "{err}");
    }

    #[test]
    fn each_bad_value_is_named() {
        let cases = [
            ("[gateway]\nlisten = \"nowhere\"", "gateway.listen"),
            ("[gatway]\nlisten = \"x\"", "unknown field `gatway`"),
            (
                "[gateway]\nlisten_addr = \"x\"",
                "unknown field `listen_addr`",
            ),
            ("timezone = \"Mars/Olympus\"", "timezone"),
            ("[clickhouse]\nurl = \"ftp://x\"", "clickhouse.url"),
            (
                "[[routes]]\nprefix = \"demo\"\nupstreams = [\"http://a\"]",
                "routes[0].prefix",
            ),
            (
                "[[routes]]\nprefix = \"/d\"\nupstreams = []",
                "routes[0].upstreams",
            ),
            (
                "[[routes]]\nprefix = \"/d\"\nupstreams = [\"http://a\", \"nope\"]",
                "routes[0].upstreams[1]",
            ),
            (
                "[gateway]\nbatch_max_records = 0",
                "gateway.batch_max_records",
            ),
            ("[gateway]\nflush_interval_ms = \"soon\"", "invalid type"),
            (
                "[gateway]\njournal_fsync = \"always\"",
                "gateway.journal_fsync",
            ),
            ("[gateway]\njournal_max_mb = -1", "invalid value"),
            (
                "[clickhouse]\ncompression = \"gzip\"",
                "clickhouse.compression",
            ),
            ("[clickhouse]\nurls = [\"ftp://x\"]", "clickhouse.urls[0]"),
            (
                "[clickhouse]\nurls = [\"http://a:1\", \"http://a:1/\"]",
                "clickhouse.urls[1]: \"http://a:1\" is listed twice",
            ),
            (
                "[clickhouse]\nurls = [\"http://a:1\"]",
                "clickhouse.urls: lists the servers of a cluster",
            ),
            (
                "[collector]\ncluster_insert = \"sideways\"",
                "collector.cluster_insert",
            ),
        ];
        for (text, want) in cases {
            let err = from_str(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} → {err}");
        }
    }

    #[test]
    fn access_keys_are_checked_and_named() {
        let cases = [
            (
                "[gateway]\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "gateway.trusted_proxies[0]",
            ),
            (
                "[dashboards]\ntrusted_proxies = [\"127.0.0.1/8\", \"proxy\"]",
                "dashboards.trusted_proxies[1]",
            ),
            (
                "[gateway]\nip_deny = [\"10.0.0.0/8\", \"10.0.0.0/40\"]",
                "gateway.ip_deny[1]",
            ),
            (
                "[dashboards]\nmax_password_checks = 0",
                "dashboards.max_password_checks",
            ),
            (
                "[dashboards]\npassword_check_wait_ms = 60000",
                "dashboards.password_check_wait_ms",
            ),
            ("[gateway]\nmax_inflight = 0", "gateway.max_inflight"),
            ("[gateway]\nmax_connections = 0", "gateway.max_connections"),
            (
                "[gateway]\nheader_read_timeout_ms = 0",
                "gateway.header_read_timeout_ms",
            ),
            ("[gateway]\nadmin_listen = \"x\"", "gateway.admin_listen"),
            ("[gateway]\nbatch_max_bytes = 1000", "gateway.batch_max_bytes"),
            (
                "[gateway]\nadmin_listen = \"127.0.0.1:8080\"",
                "gateway.admin_listen",
            ),
            ("[collector]\nmax_connections = 0", "collector.max_connections"),
            (
                "[dashboards]\nheader_read_timeout_ms = 0",
                "dashboards.header_read_timeout_ms",
            ),
            ("[alerter]\nmax_connections = 0", "alerter.max_connections"),
            (
                "[reports]\nheader_read_timeout_ms = 0",
                "reports.header_read_timeout_ms",
            ),
            ("[gateway]\nquota_sync_ms = 0", "gateway.quota_sync_ms"),
            (
                "[gateway]\nclient_header = \"Authorization\"",
                "gateway.client_header",
            ),
            ("[gateway]\nclient_header = \"a b\"", "gateway.client_header"),
            (
                "[gateway.otlp]\nendpoint = \"ftp://x/v1/traces\"",
                "gateway.otlp.endpoint",
            ),
            (
                "[gateway.otlp]\nendpoint = \"not a url\"",
                "gateway.otlp.endpoint",
            ),
            (
                "[gateway.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nqueue_capacity = 0",
                "gateway.otlp.queue_capacity",
            ),
            (
                "[gateway.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nservice_name = \"\"",
                "gateway.otlp.service_name",
            ),
            (
                "[gateway.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\ntimeout_ms = 0",
                "gateway.otlp.timeout_ms",
            ),
            (
                "[gateway.jwt]\nhs256_secrets = [\"short\"]",
                "gateway.jwt.hs256_secrets[0]",
            ),
            (
                "[gateway.jwt]\nrs256_public_keys = [\"/nonexistent/key.pem\"]",
                "gateway.jwt.rs256_public_keys[0]",
            ),
            (
                "[gateway.jwt]\nrs256_public_keys = [\"-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----\"]",
                "gateway.jwt",
            ),
            ("[gateway.jwt]\nclient_claim = \"\"", "gateway.jwt.client_claim"),
            ("[gateway.jwt]\nissuer = \" idp\"", "gateway.jwt.issuer"),
            ("[gateway.jwt]\naudience = \"api\\n\"", "gateway.jwt.audience"),
            ("[security]\npeper = \"x\"", "unknown field `peper`"),
            ("[security]\ningest_token = \"short\"", "security.ingest_token"),
            (
                "[security]\ningest_token = \"has a space in it, long enough\"",
                "security.ingest_token",
            ),
            ("[collector]\nmax_record_age = \"7 days\"", "collector.max_record_age"),
            ("[collector]\nmax_record_age = \"30s\"", "collector.max_record_age"),
            ("[collector]\nmax_record_age = 7", "invalid type"),
            (
                "[gateway]\nupstream_ca_files = [\"/nonexistent/ca.pem\"]",
                "gateway.upstream_ca_files[0]: cannot read",
            ),
            (
                "[[routes]]\nprefix = \"/a\"\nupstreams = [\"ftp://h:1\"]",
                "routes[0].upstreams[0]",
            ),
        ];
        let cases = cases
            .into_iter()
            .map(|(t, w)| (t.to_string(), w.to_string()));
        // bearer: [[gateway.oauth.trusted_issuers]].
        let ti = |i: &str, j: &str, a: &str| {
            format!("[[gateway.oauth.trusted_issuers]]\nissuer = \"{i}\"\njwks_uri = \"{j}\"\naudience = \"{a}\"\n")
        };
        let good = ti("https://idp.example", "https://idp.example/jwks", "api");
        let trusted = [
            (ti("", "https://idp.example/jwks", "api"), "gateway.oauth.trusted_issuers[0].issuer: must not be empty"),
            (ti(" https://idp.example", "https://idp.example/jwks", "api"), "gateway.oauth.trusted_issuers[0].issuer"),
            (ti("https://idp.example", "https://idp.example/jwks", ""), "gateway.oauth.trusted_issuers[0].audience"),
            (ti("https://idp.example", "idp.example/jwks", "api"), "gateway.oauth.trusted_issuers[0].jwks_uri"),
            (ti("https://idp.example", "http://idp.example/jwks", "api"), "gateway.oauth.trusted_issuers[0].jwks_uri: \"http://idp.example/jwks\": plain http:// is allowed only to a loopback address"),
            (format!("{good}{}", ti("https://idp.example", "https://other/jwks", "api")), "gateway.oauth.trusted_issuers[1].issuer: \"https://idp.example\" is already trusted_issuers[0]"),
            (format!("[gateway.oauth]\nissuer = \"https://gw.example\"\n{}", ti("https://gw.example", "https://gw.example/jwks", "api")), "gateway.oauth.trusted_issuers[0].issuer: \"https://gw.example\" is the gateway's own issuer"),
            (ti("http://127.0.0.1:8080", "http://127.0.0.1:9/jwks", "api"), "gateway.oauth.trusted_issuers[0].issuer: \"http://127.0.0.1:8080\" is the gateway's own issuer"),
            (format!("{good}unknown = 1\n"), "unknown field `unknown`"),
        ];
        let cases = cases.chain(trusted.into_iter().map(|(t, w)| (t, w.to_string())));
        for (text, want) in cases {
            let err = from_str(&text).unwrap_err().to_string();
            assert!(err.contains(&want), "{text:?} → {err}");
        }
        let two = from_str(&format!(
            "{good}{}",
            ti("https://other.example", "http://[::1]:9/jwks", "api2")
        ))
        .unwrap();
        assert_eq!(two.gateway.oauth.trusted_issuers.len(), 2);
        assert_eq!(two.gateway.oauth.trusted_issuers[1].audience, "api2");
        let https =
            from_str("[[routes]]\nprefix = \"/a\"\nupstreams = [\"https://h:8443\"]").unwrap();
        assert_eq!(https.gateway.routes[0].upstreams, ["https://h:8443"]);
        let ok = from_str(
            "timezone = \"Europe/Paris\"\n[gateway]\ntrusted_proxies = [\"192.0.2.0/24\"]\nmax_inflight = 8\n[gateway.jwt]\nhs256_secrets = [\"0123456789abcdef\"]\nclient_claim = \"azp\"\nissuer = \"https://idp.example\"",
        )
        .unwrap();
        assert_eq!(
            ok.gateway.jwt_issuer.as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(ok.gateway.jwt_audience, None);
        assert_eq!(ok.gateway.gate.max_inflight, 8);
        assert_eq!(ok.gateway.jwt.len(), 1);
        assert_eq!(ok.gateway.jwt_client_claim, "azp");
        assert_eq!(ok.gateway.timezone, chrono_tz::Europe::Paris);
    }

    #[test]
    fn the_ingest_token_and_the_record_age_come_from_file_or_environment() {
        let c = load(None, &[]).unwrap().validate().unwrap();
        assert_eq!(c.collector.max_record_age, Duration::from_secs(7 * 86_400));
        assert_eq!(c.security.ingest_token, "");
        let c = from_str(
            "[security]\ningest_token = \"0123456789abcdef-token\"\n[collector]\nmax_record_age = \"1d12h\"",
        )
        .unwrap();
        assert_eq!(c.security.ingest_token, "0123456789abcdef-token");
        assert_eq!(c.collector.max_record_age, Duration::from_secs(36 * 3600));
        let env = [
            (
                "GATEWATCH_SECURITY_INGEST_TOKEN".to_string(),
                "from-the-environment-0123".to_string(),
            ),
            (
                "GATEWATCH_COLLECTOR_MAX_RECORD_AGE".to_string(),
                "36h".to_string(),
            ),
        ];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.security.ingest_token, "from-the-environment-0123");
        assert_eq!(c.collector.max_record_age, Duration::from_secs(36 * 3600));
        let keys: Vec<String> = env_keys().into_iter().map(|(k, _)| k).collect();
        assert!(keys.contains(&"GATEWATCH_SECURITY_INGEST_TOKEN".to_string()));
        assert!(keys.contains(&"GATEWATCH_COLLECTOR_MAX_RECORD_AGE".to_string()));
    }

    #[test]
    fn alerter_settings_are_checked_and_named() {
        let cases = [
            ("[alerter.smtp]\nhost = \"mail\"", "alerter.smtp.from"),
            (
                "[alerter.smtp]\nhost = \"mail\"\nfrom = \"gw <nope>\"",
                "alerter.smtp.from",
            ),
            (
                "[alerter.smtp]\nhost = \"mail\"\nfrom = \"a@b.tw\"\ntls = \"ssl\"",
                "alerter.smtp.tls",
            ),
            (
                "[alerter.smtp]\nhost = \"mail\"\nfrom = \"a@b.tw\"\nca_file = \"/nonexistent.pem\"",
                "alerter.smtp.ca_file",
            ),
            (
                "[alerter.smtp]\nhost = \"mail\"\nfrom = \"a@b.tw\"\ntimeout_secs = 0",
                "alerter.smtp.timeout_secs",
            ),
            ("[alerter.smtp]\nhots = \"mail\"", "unknown field `hots`"),
            ("[alerter.smtp]\nport = 70000", "expected u16"),
            ("[alerter.line]\nbase_url = \"ftp://x\"", "alerter.line.base_url"),
            ("[alerter.line]\ntoken = \"x\"", "unknown field `token`"),
            ("[alerter.secrets]\nhook = \"short\"", "alerter.secrets.hook"),
            (
                "[alerter.secrets]\n\"a/b\" = \"0123456789abcdef\"",
                "alerter.secrets.a/b",
            ),
            ("[alerter]\nretries = 11", "alerter.retries"),
            ("[alerter]\nlanguage = \"zh-CN\"", "alerter.language"),
            ("[alerter]\nlanguage = \"EN\"", "alerter.language"),
            (
                "[alerter]\nallowed_networks = [\"10.1.0.0/16\", \"10.1.0.0/33\"]",
                "alerter.allowed_networks[1]",
            ),
            (
                "[alerter]\nallowed_networks = [\"intranet\"]",
                "alerter.allowed_networks[0]",
            ),
        ];
        for (text, want) in cases {
            let err = from_str(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} → {err}");
        }
        let c = from_str(
            "[alerter.smtp]\nhost = \"mail.example.tw\"\nfrom = \"gatewatch 告警 <alerts@example.tw>\"\ntls = \"tls\"\nuser = \"gw\"\npassword = \"pw\"\n[alerter.line]\nchannel_access_token = \"tok\"\nbase_url = \"http://127.0.0.1:9/\"\n[alerter.secrets]\nchatops = \"0123456789abcdef\"",
        )
        .unwrap();
        let n = &c.alerter.notify;
        let smtp = n.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.user.as_str()), (465, "gw"));
        assert_eq!(n.line.base_url, "http://127.0.0.1:9");
        assert_eq!(n.secrets.get("chatops"), Some(&b"0123456789abcdef"[..]));
        // Defaults: no mail, LINE at LINE's address, no token.
        let d = load(None, &[]).unwrap().validate().unwrap();
        assert!(d.alerter.notify.smtp.is_none());
        assert_eq!(d.alerter.notify.line.base_url, "https://api.line.me");
        assert_eq!(d.alerter_listen.to_string(), "127.0.0.1:8092");
        assert_eq!(d.alerter_language, gatewatch_model::alert::Lang::ZhTw);
        let en = from_str("[alerter]\nlanguage = \"en\"").unwrap();
        assert_eq!(en.alerter_language, gatewatch_model::alert::Lang::En);
        assert!(d.alerter.notify.outbound.allowed().is_empty());
        let open =
            from_str("[alerter]\nallowed_networks = [\"10.1.0.0/16\", \"127.0.0.1\"]").unwrap();
        let nets: Vec<String> = open
            .alerter
            .notify
            .outbound
            .allowed()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.1.0.0/16", "127.0.0.1/32"]);
        let env = [(
            "GATEWATCH_ALERTER_ALLOWED_NETWORKS".to_string(),
            "127.0.0.0/8, fd00::/8".to_string(),
        )];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.alerter.notify.outbound.allowed().len(), 2);
        let env = [(
            "GATEWATCH_ALERTER_ALLOWED_NETWORKS".to_string(),
            "10.0.0.0/8,bogus".to_string(),
        )];
        let e = load(None, &env).unwrap().validate().unwrap_err();
        assert!(e.to_string().contains("alerter.allowed_networks[1]"), "{e}");
    }

    #[test]
    fn alerter_secrets_and_credentials_come_from_the_environment() {
        let env = vec![
            (
                "GATEWATCH_ALERTER_SECRETS_CHATOPS".to_string(),
                "from-the-environment".to_string(),
            ),
            (
                "GATEWATCH_ALERTER_LINE_CHANNEL_ACCESS_TOKEN".to_string(),
                "tok".to_string(),
            ),
            (
                "GATEWATCH_ALERTER_SMTP_PORT".to_string(),
                "2525".to_string(),
            ),
            (
                "GATEWATCH_ALERTER_SMTP_HOST".to_string(),
                "mail".to_string(),
            ),
            (
                "GATEWATCH_ALERTER_SMTP_FROM".to_string(),
                "a@b.tw".to_string(),
            ),
        ];
        let c = load(None, &env).unwrap().validate().unwrap();
        let n = &c.alerter.notify;
        assert_eq!(n.secrets.get("chatops"), Some(&b"from-the-environment"[..]));
        assert_eq!(n.line.channel_access_token, "tok");
        assert_eq!(n.smtp.as_ref().unwrap().port, 2525);
        let names: Vec<String> = env_keys().into_iter().map(|(n, _)| n).collect();
        for want in [
            "GATEWATCH_ALERTER_LISTEN",
            "GATEWATCH_ALERTER_SMTP_PASSWORD",
            "GATEWATCH_ALERTER_SMTP_TLS",
            "GATEWATCH_ALERTER_LINE_BASE_URL",
        ] {
            assert!(names.contains(&want.to_string()), "{want}");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = vec![
            (
                "GATEWATCH_CLICKHOUSE_URL".to_string(),
                "http://10.0.0.9:8123".to_string(),
            ),
            (
                "GATEWATCH_GATEWAY_BATCH_MAX_RECORDS".to_string(),
                "42".to_string(),
            ),
            ("GATEWATCH_DATA_DIR".to_string(), "/var/lib/gw".to_string()),
        ];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.store.url, "http://10.0.0.9:8123");
        assert_eq!(c.gateway.batch_max_records, 42);
        assert_eq!(c.collector.wal.dir, PathBuf::from("/var/lib/gw/wal"));
        let bad_env = vec![(
            "GATEWATCH_GATEWAY_BATCH_MAX_RECORDS".to_string(),
            "many".to_string(),
        )];
        let err = load(None, &bad_env).unwrap_err();
        assert_eq!(err.key, "GATEWATCH_GATEWAY_BATCH_MAX_RECORDS");
    }

    #[test]
    fn env_names_follow_the_keys() {
        let names: Vec<String> = env_keys().into_iter().map(|(n, _)| n).collect();
        for want in [
            "GATEWATCH_CLICKHOUSE_URL",
            "GATEWATCH_GATEWAY_LISTEN",
            "GATEWATCH_TIMEZONE",
            "GATEWATCH_COLLECTOR_WAL_MAX_MB",
            "GATEWATCH_DASHBOARDS_ALERTER_URL",
        ] {
            assert!(names.contains(&want.to_string()), "{want}");
        }
    }
}

#[cfg(test)]
mod alerter_tests {
    use super::*;

    fn from_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gatewatch.toml");
        std::fs::write(&p, text).unwrap();
        load(Some(&p), &[])?.validate()
    }

    #[test]
    fn alerter_evaluation_keys_are_checked_and_named() {
        let c = from_str("").unwrap();
        assert_eq!(c.alerter_eval_interval, Duration::from_secs(5));
        assert_eq!(c.alerter_lease_ttl, Duration::from_secs(15));
        assert_eq!(c.alerter_link_base, "");
        assert_eq!(c.dashboards_alerter_url, "http://127.0.0.1:8092");
        let c = from_str(
            "[alerter]\neval_interval_ms = 1000\nlease_ttl_ms = 5000\nlink_base = \"https://gw.example.tw/\"",
        )
        .unwrap();
        assert_eq!(c.alerter_eval_interval, Duration::from_secs(1));
        assert_eq!(c.alerter_link_base, "https://gw.example.tw");
        for (text, want) in [
            (
                "[alerter]\neval_interval_ms = 0",
                "alerter.eval_interval_ms",
            ),
            ("[alerter]\nlease_ttl_ms = 10000", "alerter.lease_ttl_ms"),
            ("[alerter]\nlink_base = \"ftp://x\"", "alerter.link_base"),
            ("[alerter]\nlink_base = \"not a url\"", "alerter.link_base"),
            (
                "[dashboards]\nalerter_url = \"ftp://x\"",
                "dashboards.alerter_url",
            ),
            (
                "[alerter]\nevel_interval_ms = 5",
                "unknown field `evel_interval_ms`",
            ),
        ] {
            let err = from_str(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} → {err}");
        }
        let env = [(
            "GATEWATCH_ALERTER_EVAL_INTERVAL_MS".to_string(),
            "2000".to_string(),
        )];
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(c.alerter_eval_interval, Duration::from_secs(2));
    }
}

#[cfg(test)]
mod reports_tests {
    use super::*;

    fn from_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gatewatch.toml");
        std::fs::write(&p, text).unwrap();
        load(Some(&p), &[])?.validate()
    }

    #[test]
    fn report_mail_and_retention_keys_are_checked_and_named() {
        let d = from_str("").unwrap();
        assert!(d.reports_smtp.is_none());
        assert_eq!(d.reports_listen.to_string(), "127.0.0.1:8093");
        assert_eq!(
            (d.reports_retries, d.reports_poll),
            (3, Duration::from_secs(5))
        );
        assert_eq!(
            d.retention,
            Some(gatewatch_reports::retention::RetentionPolicy {
                raw_days: 90,
                rollup_days: 400
            })
        );
        for (text, want) in [
            ("[reports]\nretries = 11", "reports.retries"),
            ("[reports]\ncatch_up_secs = 604801", "reports.catch_up_secs"),
            ("[reports]\npoll_ms = 0", "reports.poll_ms"),
            (
                "[reports]\npoll_ms = 5000\nlease_ttl_ms = 6000",
                "reports.lease_ttl_ms",
            ),
            (
                "[reports]\nretry_backoff_secs = 0",
                "reports.retry_backoff_secs",
            ),
            ("[reports]\nlisten = \"nowhere\"", "reports.listen"),
            ("[reports]\nsmpt = 1", "unknown field `smpt`"),
            ("[reports.smtp]\nhost = \"mail\"", "reports.smtp.from"),
            (
                "[reports.smtp]\nhost = \"mail\"\nfrom = \"a@b.tw\"\ntls = \"ssl\"",
                "reports.smtp.tls",
            ),
            // Falling back to the alerter's server names the alerter's keys.
            (
                "[alerter.smtp]\nhost = \"mail\"\nfrom = \"a@b.tw\"\ntls = \"ssl\"",
                "alerter.smtp.tls",
            ),
            ("[retention]\nraw_days = 0", "retention.raw_days"),
            ("[retention]\nrollup_days = 40000", "retention.rollup_days"),
            ("[retention]\nraw_dayz = 3", "unknown field `raw_dayz`"),
        ] {
            let err = from_str(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?} → {err}");
        }
        // [reports.smtp] wins; without it, [alerter.smtp] carries report mail too.
        let both = "[alerter.smtp]\nhost = \"alerts.example.tw\"\nfrom = \"a@b.tw\"\n[reports.smtp]\nhost = \"reports.example.tw\"\nfrom = \"r@b.tw\"\ntls = \"none\"";
        let c = from_str(both).unwrap();
        let s = c.reports_smtp.unwrap();
        assert_eq!((s.host.as_str(), s.port), ("reports.example.tw", 25));
        let c =
            from_str("[alerter.smtp]\nhost = \"alerts.example.tw\"\nfrom = \"a@b.tw\"").unwrap();
        let s = c.reports_smtp.unwrap();
        assert_eq!((s.host.as_str(), s.port), ("alerts.example.tw", 587));
        let c = from_str("[retention]\nenabled = false").unwrap();
        assert!(c.retention.is_none());
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    pub(super) fn from_str(dir: &Path, text: &str) -> Result<Config, ConfigError> {
        let p = dir.join("gatewatch.toml");
        std::fs::write(&p, text).unwrap();
        load(Some(&p), &[])?.validate()
    }

    /// A self-signed certificate for `name` as `stem.pem` and `stem-key.pem` in `dir`.
    pub(super) fn pair(dir: &Path, stem: &str, name: &str) -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}-key.pem")),
        );
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        (cert.display().to_string(), key.display().to_string())
    }

    #[test]
    fn gateway_tls_is_off_by_default_and_loaded_when_set() {
        let d = tempfile::tempdir().unwrap();
        assert!(from_str(d.path(), "").unwrap().gateway.tls.is_none());
        let (cert, key) = pair(d.path(), "main", "localhost");
        let (other, other_key) = pair(d.path(), "other", "other.test");
        let c = from_str(
            d.path(),
            &format!(
                "[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
                 [[gateway.tls.certs]]\nserver_names = [\"other.test\", \"*.other.test\"]\n\
                 cert_file = \"{other}\"\nkey_file = \"{other_key}\"\n"
            ),
        )
        .unwrap();
        let tls = c.gateway.tls.unwrap();
        assert_eq!(tls.reload_interval, Duration::from_secs(5));
        // With a client CA file (here the self-signed certificate stands for a CA).
        let with_ca = format!(
            "[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\nclient_ca_file = \"{other}\"\n"
        );
        assert!(from_str(d.path(), &with_ca).unwrap().gateway.tls.is_some());
        // The same keys from the environment.
        let env: Vec<(String, String)> = [
            ("GATEWATCH_GATEWAY_TLS_LISTEN", "127.0.0.1:0"),
            ("GATEWATCH_GATEWAY_TLS_CERT_FILE", cert.as_str()),
            ("GATEWATCH_GATEWAY_TLS_KEY_FILE", key.as_str()),
            ("GATEWATCH_GATEWAY_TLS_RELOAD_INTERVAL_MS", "250"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(
            c.gateway.tls.unwrap().reload_interval,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn gateway_tls_keys_are_checked_and_named() {
        let d = tempfile::tempdir().unwrap();
        let (cert, key) = pair(d.path(), "main", "localhost");
        let (_, other_key) = pair(d.path(), "other", "other.test");
        let base = |extra: &str| {
            format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n{extra}")
        };
        let cases = [
            (format!("[gateway.tls]\ncert_file = \"{cert}\""), "gateway.tls.listen"),
            ("[gateway.tls]\nlisten = \"here\"".to_string(), "gateway.tls.listen"),
            (
                format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\""),
                "gateway.tls.key_file",
            ),
            (
                format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{other_key}\""),
                "gateway.tls.cert_file",
            ),
            (
                format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{key}\"\nkey_file = \"{key}\""),
                "gateway.tls.cert_file",
            ),
            (
                format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{cert}\""),
                "gateway.tls.key_file",
            ),
            (
                format!("[gateway.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"{key}\""),
                "gateway.tls.cert_file",
            ),
            (base("reload_interval_ms = 0"), "gateway.tls.reload_interval_ms"),
            (
                base(&format!("[[gateway.tls.certs]]\nserver_names = []\ncert_file = \"{cert}\"\nkey_file = \"{key}\"")),
                "gateway.tls.certs[0].server_names",
            ),
            (
                base(&format!("[[gateway.tls.certs]]\nserver_names = [\"a.*.test\"]\ncert_file = \"{cert}\"\nkey_file = \"{key}\"")),
                "gateway.tls.certs[0].server_names",
            ),
            (
                base(&format!("[[gateway.tls.certs]]\nserver_names = [\"a.test\"]\ncert_file = \"{cert}\"\nkey_file = \"{other_key}\"")),
                "gateway.tls.certs[0].cert_file",
            ),
            (base("client_ca = \"x\""), "unknown field `client_ca`"),
            (base("client_ca_file = \" \""), "gateway.tls.client_ca_file"),
            (
                base("client_ca_file = \"/nonexistent/ca.pem\""),
                "gateway.tls.client_ca_file",
            ),
            (
                base(&format!("client_ca_file = \"{key}\"")),
                "gateway.tls.client_ca_file",
            ),
            (
                format!("[gateway.tls]\nclient_ca_file = \"{cert}\""),
                "gateway.tls.listen",
            ),
        ];
        for (text, want) in cases {
            let err = from_str(d.path(), &text).unwrap_err().to_string();
            assert!(
                err.starts_with(want) || err.contains(want),
                "{text:?} → {err}"
            );
        }
    }
}

#[cfg(test)]
mod hop_tls_tests {
    use super::*;

    use super::tls_tests::{from_str, pair};

    #[test]
    fn role_tls_listeners_are_off_by_default_and_loaded_when_set() {
        let d = tempfile::tempdir().unwrap();
        let c = from_str(d.path(), "").unwrap();
        assert!(c.collector.tls.is_none() && c.dashboards_tls.is_none());
        let (cert, key) = pair(d.path(), "c", "localhost");
        for section in ["collector", "dashboards"] {
            let c = from_str(
                d.path(),
                &format!("[{section}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n"),
            )
            .unwrap();
            let reload = match section {
                "collector" => c.collector.tls.unwrap().reload_interval,
                _ => c.dashboards_tls.unwrap().reload_interval,
            };
            assert_eq!(reload, Duration::from_secs(5), "{section}");
        }
        // The same keys from the environment.
        let env: Vec<(String, String)> = [
            ("GATEWATCH_DASHBOARDS_TLS_LISTEN", "127.0.0.1:0"),
            ("GATEWATCH_DASHBOARDS_TLS_CERT_FILE", cert.as_str()),
            ("GATEWATCH_DASHBOARDS_TLS_KEY_FILE", key.as_str()),
            ("GATEWATCH_DASHBOARDS_TLS_RELOAD_INTERVAL_MS", "250"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = load(None, &env).unwrap().validate().unwrap();
        assert_eq!(
            c.dashboards_tls.unwrap().reload_interval,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn hop_tls_keys_are_checked_and_named() {
        let d = tempfile::tempdir().unwrap();
        let (cert, key) = pair(d.path(), "c", "localhost");
        let (_, other_key) = pair(d.path(), "o", "localhost");
        let garbage = d.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let garbage = garbage.display().to_string();
        let mut cases = Vec::new();
        for s in ["collector", "dashboards"] {
            cases.extend([
                (format!("[{s}.tls]\ncert_file = \"{cert}\""), format!("{s}.tls.listen")),
                (format!("[{s}.tls]\nlisten = \"here\""), format!("{s}.tls.listen")),
                (format!("[{s}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\""), format!("{s}.tls.key_file")),
                (format!("[{s}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{other_key}\""), format!("{s}.tls.cert_file")),
                (format!("[{s}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"{key}\""), format!("{s}.tls.cert_file")),
                (format!("[{s}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{cert}\""), format!("{s}.tls.key_file")),
                (format!("[{s}.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\nreload_interval_ms = 0"), format!("{s}.tls.reload_interval_ms")),
            ]);
        }
        cases.extend([
            (
                "[clickhouse]\nurl = \"https://ch:8443\"\nca_file = \"/nonexistent/ca.pem\"".to_string(),
                "clickhouse.ca_file: cannot read".to_string(),
            ),
            (
                format!("[clickhouse]\nurl = \"https://ch:8443\"\nca_file = \"{garbage}\""),
                "clickhouse.ca_file".to_string(),
            ),
            (
                format!("[clickhouse]\nca_file = \"{cert}\""),
                "clickhouse.ca_file: is set but clickhouse.url \"http://127.0.0.1:8123\" is not https://".to_string(),
            ),
            ("[clickhouse]\nurl = \"ftp://ch\"".to_string(), "clickhouse.url".to_string()),
            (
                "[gateway]\ncollector_url = \"https://c:8091\"\ncollector_ca_file = \"/nonexistent/ca.pem\"".to_string(),
                "gateway.collector_ca_file: cannot read".to_string(),
            ),
            (
                format!("[gateway]\ncollector_url = \"https://c:8091\"\ncollector_ca_file = \"{garbage}\""),
                "gateway.collector_ca_file".to_string(),
            ),
            (
                format!("[gateway]\ncollector_ca_file = \"{cert}\""),
                "gateway.collector_ca_file: is set but gateway.collector_url".to_string(),
            ),
            ("[gateway]\ncollector_url = \"ftp://c\"".to_string(), "gateway.collector_url".to_string()),
        ]);
        for (text, want) in cases {
            let err = from_str(d.path(), &text).unwrap_err().to_string();
            assert!(err.starts_with(&want), "{text:?} → {err}");
        }
        // https with a CA that parses: accepted, for ClickHouse and the collector.
        let c = from_str(
            d.path(),
            &format!("[clickhouse]\nurl = \"https://ch:8443/\"\nca_file = \"{cert}\"\n[gateway]\ncollector_url = \"https://c:8091\"\ncollector_ca_file = \"{cert}\""),
        )
        .unwrap();
        assert!(c.store.ca.is_some());
        assert_eq!(c.store.url, "https://ch:8443");
        assert_eq!(
            c.gateway.collector_ca_file.as_deref(),
            Some(Path::new(&cert))
        );
    }
}
