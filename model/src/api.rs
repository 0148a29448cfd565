//! The API entity (kind `api` in the configuration log): what the gateway routes, to where, and
//! what it records of each call.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client::Rate;
use crate::field::{bad, FieldError};
use crate::mask::MaskRules;
use crate::policy::{
    Check, CheckMode, CorsPolicy, IdempotencyPolicy, Policies, SignaturePolicy, TxTokenPolicy,
};

/// One registered API, as stored in the configuration log's JSON body. Its id is the entity id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// Display name, any language.
    #[schema(min_length = 1)]
    pub name: String,
    /// Module or group the API belongs to (reports group by it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub module: String,
    /// Version label, e.g. `v2`. Required (1–32 of `A-Z a-z 0-9 . _ -`) with `family`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The API family (an `api_family` entity id) this API is one version of: the versions of
    /// a family share a pattern, and the gateway picks one per call (path segment, header,
    /// query parameter, canary split, default). Empty: a plain API.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    /// This version is deprecated: answers carry `Deprecation` (RFC 9745) and, with `sunset`,
    /// `Sunset` (RFC 8594).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<Box<crate::version::Deprecation>>,
    /// A retired version answers `410 retired` and never reaches its upstream.
    #[serde(default, skip_serializing_if = "is_false")]
    pub retired: bool,
    /// The node groups whose gateways serve this API (`[gateway] node_groups`); empty: every
    /// group. Elsewhere the API is not in the gateway's snapshot and answers `404 no_route`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 32)]
    pub node_groups: Vec<String>,
    /// Prefix match: `/orders` answers `/orders` and everything under it. Exactly one of
    /// `prefix` and `path` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(/|$)", example = "/orders")]
    pub prefix: Option<String>,
    /// Path pattern: literal segments, `{name}` (one segment, captured), `*` (one segment),
    /// and a final `**` (any depth, including none). `/orders/{id}` matches `/orders/7` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^/", example = "/orders/{id}")]
    pub path: Option<String>,
    /// Methods answered (upper case); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::methods)]
    pub methods: Vec<String>,
    /// Upstream hosts: `"http://host:port"`, `"https://host:port"` or `{ url = "…", weight = 3 }`.
    #[schema(min_items = 1)]
    pub upstreams: Vec<Upstream>,
    /// How `https://` upstreams are verified and what the gateway presents to them; without
    /// it, the system's roots (and `[gateway] upstream_ca_files`) and SNI from the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tls: Option<Box<UpstreamTls>>,
    /// How an upstream is chosen.
    #[serde(default)]
    pub lb: LbPolicy,
    /// Remove the literal part of the pattern (the prefix, or the segments before the first
    /// wildcard or parameter) before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Active health checks of each upstream; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Passive ejection: an upstream failing this often in a row is left out for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive: Option<PassiveEjection>,
    /// Connect timeout per attempt (default: the gateway's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub connect_timeout_ms: Option<u64>,
    /// Time allowed for the upstream's response head (default: the gateway's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
    /// Extra attempts on another upstream for idempotent methods (GET, HEAD, OPTIONS, PUT,
    /// DELETE) when the attempt failed before a response head arrived.
    #[serde(default)]
    #[schema(maximum = 5)]
    pub retries: u8,
    /// Credentials the API accepts; empty means a public API (anyone may call it). `api_key`,
    /// `basic` and `jwt` are alternatives: a call shows one of those listed. `mtls` is a
    /// requirement on top: the call comes over the TLS listener with a client certificate
    /// that a client lists in `certificates`; alone (`["mtls"]`) the certificate names the
    /// client; with others (`["mtls", "api_key"]`) the call needs the certificate **and** one
    /// of the others, and both must name the same client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<AuthMethod>,
    /// Send the credential that authenticated the call (`X-API-Key`, `Authorization`) on to
    /// the upstream; by default the gateway removes it, and the upstream learns the caller
    /// from the client header (`X-Gatewatch-Client`). Only for an API with `auth`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forward_credentials: bool,
    /// OAuth 2.0 scopes a token must carry, all of them, on an API with `auth = ["oauth2"]`
    /// (refused 403 `insufficient_scope` otherwise). RFC 6749 scope names, at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::scopes)]
    pub scopes: Vec<String>,
    /// Message checks run over the request's values (path segments, query values, form
    /// fields, JSON strings, `check_headers`): `sqli`, `xss`. None when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// What a finding does: `block` (403 `blocked`) or `monitor` (recorded only).
    #[serde(default, skip_serializing_if = "CheckMode::is_default")]
    pub check_mode: CheckMode,
    /// Request headers the message checks scan too (lower case, at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_headers: Vec<String>,
    /// RFC 9421 request signatures (SignCode) the calls must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Box<SignaturePolicy>>,
    /// `Idempotency-Key`: the first answer kept and replayed to repeats (TxToken duplicates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<Box<IdempotencyPolicy>>,
    /// One-time transaction tokens the calls must carry (`POST /.gatewatch/tx-token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_token: Option<Box<TxTokenPolicy>>,
    /// Largest request body; a bigger one is refused 413 before the upstream sees a byte
    /// past the limit. No limit when absent (but policies that read the body cap it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1073741824)]
    pub max_body_bytes: Option<u64>,
    /// Cross-origin calls from browsers; preflights answered by the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Box<CorsPolicy>>,
    /// Source addresses refused on this API (`10.0.0.0/8`, `192.0.2.7`, `::1`), beside the
    /// client's and the site's lists (403 `ip_denied`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_deny: Vec<String>,
    /// Calls per second to this API from every caller together, with a burst (429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// What of each call is kept in its record beyond the summary.
    #[serde(default)]
    pub capture: CapturePolicy,
    /// Masking applied to what is captured (on top of the defaults).
    #[serde(default)]
    pub masking: MaskRules,
    /// A disabled API is not routed.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What the developer portal shows of this API (`portal.published`, its category,
    /// summary, Markdown description, tags, OpenAPI document); absent: not on the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<Box<crate::portal::PortalInfo>>,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One upstream host and its share of the traffic under [`LbPolicy::Weighted`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "UpstreamDef", into = "UpstreamDef")]
pub struct Upstream {
    pub url: String,
    pub weight: u16,
}

/// `"http://host:port"` (weight 1) or `{"url": "https://host:port", "weight": 3}`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = Upstream)]
enum UpstreamDef {
    #[schema(example = "http://10.0.0.7:8080")]
    Url(String),
    Weighted {
        #[schema(pattern = "^https?://[^/@?# ]+/?$")]
        url: String,
        #[serde(default = "one")]
        #[schema(minimum = 1, maximum = 1000)]
        weight: u16,
    },
}

fn one() -> u16 {
    1
}

impl From<UpstreamDef> for Upstream {
    fn from(d: UpstreamDef) -> Upstream {
        match d {
            UpstreamDef::Url(url) => Upstream { url, weight: 1 },
            UpstreamDef::Weighted { url, weight } => Upstream { url, weight },
        }
    }
}

impl From<Upstream> for UpstreamDef {
    fn from(u: Upstream) -> UpstreamDef {
        if u.weight == 1 {
            UpstreamDef::Url(u.url)
        } else {
            UpstreamDef::Weighted {
                url: u.url,
                weight: u.weight,
            }
        }
    }
}

// An upstream is written as `UpstreamDef` (serde `from`/`into`), so that is its schema.
impl utoipa::PartialSchema for Upstream {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <UpstreamDef as utoipa::PartialSchema>::schema()
    }
}

impl ToSchema for Upstream {
    fn name() -> std::borrow::Cow<'static, str> {
        <UpstreamDef as ToSchema>::name()
    }
}

impl Upstream {
    pub fn new(url: impl Into<String>) -> Upstream {
        Upstream {
            url: url.into(),
            weight: 1,
        }
    }
}

/// TLS towards an API's `https://` upstreams. Files are PEM, read by the gateway when it loads
/// the configuration (the admin API checks the form only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// CA certificates trusted for this API's upstreams, beside the system's roots and
    /// `[gateway] upstream_ca_files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, pattern = "\\S")]
    pub ca_file: Option<String>,
    /// Name sent as SNI and checked against the certificate (default: the URL's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 253, pattern = "^[^\\s/@?#]+$")]
    pub server_name: Option<String>,
    /// Client certificate chain presented to the upstream (with `key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, pattern = "\\S")]
    pub cert_file: Option<String>,
    /// Private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, pattern = "\\S")]
    pub key_file: Option<String>,
    /// `false` accepts any certificate (tests only): a warning is logged at every load.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    #[schema(default = true)]
    pub verify: bool,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl UpstreamTls {
    /// Checks the form (the files are read by the gateway); the error names the field under
    /// `upstream_tls`.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if v.as_deref().is_some_and(|p| p.trim().is_empty()) {
                return bad(field, "must not be empty");
            }
        }
        if let Some(n) = &self.server_name {
            if n.is_empty()
                || n.len() > 253
                || n.chars().any(|c| c.is_whitespace() || "/@?#".contains(c))
            {
                return bad("server_name", format!("{n:?} is not a host name"));
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => bad("key_file", "is required with `cert_file`"),
            (None, Some(_)) => bad("cert_file", "is required with `key_file`"),
            _ => Ok(()),
        }
    }
}

/// How the gateway picks an upstream for a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    /// Each healthy upstream in turn.
    #[default]
    RoundRobin,
    /// In turn, in proportion to `weight` (smooth weighted round robin).
    Weighted,
    /// The healthy upstream with the fewest calls in flight from this gateway.
    LeastConnections,
}

/// Active health check: `GET {upstream}{path}` every `interval_ms`; a 2xx/3xx answer within
/// `timeout_ms` is a success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[schema(pattern = "^/", example = "/healthz")]
    pub path: String,
    #[serde(default = "HealthCheck::default_interval")]
    #[schema(minimum = 100, maximum = 3_600_000)]
    pub interval_ms: u64,
    /// At most `interval_ms`.
    #[serde(default = "HealthCheck::default_timeout")]
    #[schema(minimum = 1, maximum = 3_600_000)]
    pub timeout_ms: u64,
    /// Successes in a row that bring an unhealthy upstream back.
    #[serde(default = "HealthCheck::default_healthy")]
    #[schema(minimum = 1)]
    pub healthy_threshold: u32,
    /// Failures in a row that take a healthy upstream out.
    #[serde(default = "HealthCheck::default_unhealthy")]
    #[schema(minimum = 1)]
    pub unhealthy_threshold: u32,
}

impl HealthCheck {
    fn default_interval() -> u64 {
        5_000
    }
    fn default_timeout() -> u64 {
        1_000
    }
    fn default_healthy() -> u32 {
        2
    }
    fn default_unhealthy() -> u32 {
        3
    }
}

/// Passive ejection from real traffic: `failures` connection failures or 5xx answers in a row
/// leave the upstream out for `eject_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassiveEjection {
    #[serde(default = "PassiveEjection::default_failures")]
    #[schema(minimum = 1)]
    pub failures: u32,
    #[serde(default = "PassiveEjection::default_eject")]
    #[schema(minimum = 1)]
    pub eject_ms: u64,
}

impl PassiveEjection {
    fn default_failures() -> u32 {
        5
    }
    fn default_eject() -> u64 {
        30_000
    }
}

/// A kind of credential an API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `X-API-Key: …` (or `Authorization: ApiKey …`).
    ApiKey,
    /// `Authorization: Basic` with the client id and the client secret.
    Basic,
    /// `Authorization: Bearer` with a JWT signed by a configured key.
    Jwt,
    /// A client certificate (TLS listener with `[gateway.tls] client_ca_file`) whose
    /// fingerprint a client lists in `certificates`; with other methods, both are required.
    Mtls,
    /// `Authorization: Bearer` with an OAuth 2.0 access token: one the gateway issued (its
    /// token endpoint) or one of a trusted issuer (`[[gateway.oauth.trusted_issuers]]`),
    /// carrying every scope the API lists in `scopes`.
    Oauth2,
}

/// What of a call is captured into its record (after masking).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum CapturePolicy {
    /// Only the summary (method, path, masked query, status, sizes, timings).
    #[default]
    None,
    /// Also request and response headers.
    Headers,
    /// Headers and the first `max_bytes` of each body.
    Bodies {
        #[schema(minimum = 1, maximum = 65536)]
        max_bytes: u32,
    },
}

/// Largest body capture an API may ask for.
pub const MAX_CAPTURE_BYTES: u32 = 64 * 1024;

/// A parsed path pattern (see [`ApiSpec::path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    pub segments: Vec<Segment>,
}

/// One `/`-separated piece of a [`PathPattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: one segment, captured under `name`.
    Param(String),
    /// `*`: any one segment.
    Any,
    /// `**`: any number of segments (last only).
    Rest,
}

impl PathPattern {
    /// Parses a pattern; the error says what is wrong with it.
    pub fn parse(pattern: &str) -> Result<PathPattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("{pattern:?} must start with '/'"));
        };
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Ok(PathPattern { segments });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let seg = match *part {
                "" => return Err(format!("{pattern:?} has an empty segment")),
                "*" => Segment::Any,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(format!("{pattern:?}: '**' may only be the last segment")),
                p if p.starts_with('{') && p.ends_with('}') => {
                    let name = &p[1..p.len() - 1];
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        return Err(format!(
                            "{pattern:?}: parameter {p:?} needs a name of letters, digits and '_'"
                        ));
                    }
                    Segment::Param(name.to_string())
                }
                p if p.contains(['{', '}', '*', '?', '#']) => {
                    return Err(format!(
                        "{pattern:?}: segment {p:?} mixes text and wildcards"
                    ))
                }
                p => Segment::Literal(p.to_string()),
            };
            segments.push(seg);
        }
        Ok(PathPattern { segments })
    }

    /// The literal leading part (`/orders/v1` of `/orders/v1/{id}`), what `strip_prefix` removes.
    pub fn literal_prefix(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Literal(l) => {
                    out.push('/');
                    out.push_str(l);
                }
                _ => break,
            }
        }
        out
    }
}

pub(crate) const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

impl ApiSpec {
    /// A prefix-routed API with default settings (tests, demo, the file's `[[routes]]`).
    pub fn prefixed(name: &str, prefix: &str, upstreams: &[&str]) -> ApiSpec {
        ApiSpec {
            name: name.into(),
            module: String::new(),
            version: String::new(),
            family: String::new(),
            deprecation: None,
            retired: false,
            node_groups: Vec::new(),
            prefix: Some(prefix.into()),
            path: None,
            methods: Vec::new(),
            upstreams: upstreams.iter().map(|u| Upstream::new(*u)).collect(),
            upstream_tls: None,
            lb: LbPolicy::default(),
            strip_prefix: false,
            health_check: None,
            passive: None,
            connect_timeout_ms: None,
            timeout_ms: None,
            retries: 0,
            auth: Vec::new(),
            forward_credentials: false,
            scopes: Vec::new(),
            checks: Vec::new(),
            check_mode: CheckMode::default(),
            check_headers: Vec::new(),
            signature: None,
            idempotency: None,
            tx_token: None,
            max_body_bytes: None,
            cors: None,
            ip_deny: Vec::new(),
            rate: None,
            capture: CapturePolicy::default(),
            masking: MaskRules::default(),
            enabled: true,
            portal: None,
        }
    }

    /// The path pattern the API answers: `prefix` as `{prefix}/**`, or `path`.
    pub fn pattern(&self) -> Result<PathPattern, FieldError> {
        match (&self.prefix, &self.path) {
            (Some(p), None) => {
                let trimmed = p.trim_end_matches('/');
                let mut pat = PathPattern::parse(if trimmed.is_empty() { "/" } else { trimmed })
                    .map_err(|m| FieldError::new("prefix", m))?;
                if pat
                    .segments
                    .iter()
                    .any(|s| !matches!(s, Segment::Literal(_)))
                {
                    return bad(
                        "prefix",
                        format!("{p:?} may not hold wildcards; use `path`"),
                    );
                }
                pat.segments.push(Segment::Rest);
                Ok(pat)
            }
            (None, Some(p)) => PathPattern::parse(p).map_err(|m| FieldError::new("path", m)),
            (Some(_), Some(_)) => bad("path", "set either `prefix` or `path`, not both"),
            (None, None) => bad("path", "one of `prefix` or `path` is required"),
        }
    }

    /// Checks what serde's types cannot; the error names the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        self.pattern()?;
        for (i, m) in self.methods.iter().enumerate() {
            if !METHODS.contains(&m.as_str()) {
                return bad(
                    format!("methods[{i}]"),
                    format!("{m:?} is not an HTTP method (upper case: GET, POST, …)"),
                );
            }
        }
        if self.upstreams.is_empty() {
            return bad("upstreams", "must not be empty");
        }
        for (i, u) in self.upstreams.iter().enumerate() {
            check_upstream_url(&u.url)
                .map_err(|m| FieldError::new(format!("upstreams[{i}]"), m))?;
            if u.weight == 0 || u.weight > 1000 {
                return bad(format!("upstreams[{i}].weight"), "must be 1 to 1000");
            }
        }
        if let Some(t) = &self.upstream_tls {
            t.validate().map_err(|e| e.under("upstream_tls"))?;
        }
        if let Some(h) = &self.health_check {
            if !h.path.starts_with('/') {
                return bad(
                    "health_check.path",
                    format!("{:?} must start with '/'", h.path),
                );
            }
            if !(100..=3_600_000).contains(&h.interval_ms) {
                return bad("health_check.interval_ms", "must be 100 to 3600000");
            }
            if h.timeout_ms == 0 || h.timeout_ms > h.interval_ms {
                return bad("health_check.timeout_ms", "must be 1 to interval_ms");
            }
            if h.healthy_threshold == 0 || h.unhealthy_threshold == 0 {
                return bad(
                    "health_check.healthy_threshold",
                    "thresholds must be at least 1",
                );
            }
        }
        if let Some(p) = &self.passive {
            if p.failures == 0 {
                return bad("passive.failures", "must be at least 1");
            }
            if p.eject_ms == 0 {
                return bad("passive.eject_ms", "must be at least 1");
            }
        }
        if self.connect_timeout_ms == Some(0) {
            return bad("connect_timeout_ms", "must be at least 1");
        }
        if self.timeout_ms == Some(0) {
            return bad("timeout_ms", "must be at least 1");
        }
        if self.retries > 5 {
            return bad("retries", "must be 0 to 5");
        }
        crate::oauth::check_scopes("scopes", &self.scopes)?;
        if !self.scopes.is_empty() && !self.auth.contains(&AuthMethod::Oauth2) {
            return bad(
                "scopes",
                "only an API with `oauth2` in `auth` checks scopes (tokens carry them)",
            );
        }
        if self.forward_credentials && self.auth.is_empty() {
            return bad(
                "forward_credentials",
                "only an API with `auth` has credentials to forward (a public API's headers go up as sent)",
            );
        }
        if let CapturePolicy::Bodies { max_bytes } = self.capture {
            if max_bytes == 0 || max_bytes > MAX_CAPTURE_BYTES {
                return bad(
                    "capture.max_bytes",
                    format!("must be 1 to {MAX_CAPTURE_BYTES}"),
                );
            }
        }
        self.masking.validate().map_err(|e| e.under("masking"))?;
        crate::node::check_groups("node_groups", &self.node_groups)?;
        if let Some(p) = &self.portal {
            p.validate()?;
        }
        crate::version::check_api_version(
            &self.family,
            &self.version,
            self.deprecation.as_deref(),
        )?;
        self.policies().validate()
    }

    /// The request policies, borrowed (validation).
    fn policies(&self) -> Policies<'_> {
        Policies {
            checks: &self.checks,
            check_mode: self.check_mode,
            check_headers: &self.check_headers,
            signature: self.signature.as_deref(),
            idempotency: self.idempotency.as_deref(),
            tx_token: self.tx_token.as_deref(),
            max_body_bytes: self.max_body_bytes,
            cors: self.cors.as_deref(),
            ip_deny: &self.ip_deny,
            rate: self.rate.as_ref(),
            has_auth: !self.auth.is_empty(),
        }
    }
}

/// `http[s]://host[:port]` and nothing else (the API's pattern says the path). The gateway
/// parses the URL again; this catches the mistakes early, naming them.
fn check_upstream_url(u: &str) -> Result<(), String> {
    let Some(rest) = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
    else {
        return Err(format!("{u:?} must start with http:// or https://"));
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
        return Err(format!("{u:?} has no valid host"));
    }
    if !matches!(path, "" | "/") {
        return Err(format!(
            "{u:?} must not have a path (the API's prefix or path says it)"
        ));
    }
    // The URL parser has the last word on the host and port (`:99999`, `[::1`, `a..b`).
    match url::Url::parse(u) {
        Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(format!("{u:?} has no valid host")),
        Err(e) => Err(format!("{u:?} is not a valid URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(json: &str) -> ApiSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn upstream_urls_need_a_valid_host_and_port() {
        for ok in [
            "http://127.0.0.1:1",
            "http://[::1]:65535/",
            "http://backend",
            "http://b.example:80",
            "https://b.example",
            "https://[::1]:8443/",
        ] {
            assert!(check_upstream_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://[::1]:99999",
            "http://h:65536",
            "http://h:-1",
            "http://[::1",
            "http://h:port",
            "https://",
            "https://h/p",
            "ftp://h",
            "http://h/p",
            "http://u@h",
            "http://",
        ] {
            assert!(check_upstream_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_tls_form_is_checked_and_bad_fields_named() {
        let base = r#"{"name":"x","prefix":"/x","upstreams":["https://h:8443"]"#;
        let with = |tls: &str| api(&format!(r#"{base},"upstream_tls":{tls}}}"#));
        let ok = with(
            r#"{"ca_file":"/etc/ca.pem","server_name":"api.example","cert_file":"c.pem","key_file":"k.pem"}"#,
        );
        assert!(ok.validate().is_ok());
        assert!(
            ok.upstream_tls.as_ref().unwrap().verify,
            "verify defaults to true"
        );
        // Written back without the default.
        let json = serde_json::to_value(&ok).unwrap();
        assert!(json["upstream_tls"].get("verify").is_none(), "{json}");
        let field = |tls: &str| with(tls).validate().unwrap_err().field;
        assert_eq!(field(r#"{"ca_file":" "}"#), "upstream_tls.ca_file");
        assert_eq!(field(r#"{"cert_file":"c.pem"}"#), "upstream_tls.key_file");
        assert_eq!(field(r#"{"key_file":"k.pem"}"#), "upstream_tls.cert_file");
        assert_eq!(
            field(r#"{"server_name":"a b"}"#),
            "upstream_tls.server_name"
        );
        assert_eq!(field(r#"{"server_name":""}"#), "upstream_tls.server_name");
        assert_eq!(
            field(r#"{"server_name":"h/x"}"#),
            "upstream_tls.server_name"
        );
        assert!(with(r#"{"verify":false}"#).validate().is_ok());
        assert!(serde_json::from_str::<ApiSpec>(&format!(
            r#"{base},"upstream_tls":{{"cafile":"x"}}}}"#
        ))
        .is_err());
    }

    #[test]
    fn parses_with_defaults_and_names_bad_fields() {
        let a = api(r#"{"name":"訂單","prefix":"/orders","upstreams":["http://127.0.0.1:1"]}"#);
        assert!(a.enabled);
        assert_eq!(a.lb, LbPolicy::RoundRobin);
        assert_eq!(a.capture, CapturePolicy::None);
        assert!(a.validate().is_ok());
        let mut b = a.clone();
        b.prefix = Some("orders".into());
        assert_eq!(b.validate().unwrap_err().field, "prefix");
        let mut c = a.clone();
        c.upstreams = vec![Upstream::new("ftp://x")];
        assert_eq!(c.validate().unwrap_err().field, "upstreams[0]");
        c.upstreams = vec![Upstream::new("http://x:1/base")];
        assert_eq!(c.validate().unwrap_err().field, "upstreams[0]");
        c.upstreams = vec![Upstream::new("http://x:1/")];
        assert!(c.validate().is_ok());
        let mut d = a.clone();
        d.path = Some("/x".into());
        assert_eq!(d.validate().unwrap_err().field, "path");
        let mut e = a;
        e.methods = vec!["get".into()];
        assert_eq!(e.validate().unwrap_err().field, "methods[0]");
        assert!(serde_json::from_str::<ApiSpec>(
            r#"{"name":"x","prefix":"/","upstreams":[],"prefx":1}"#
        )
        .is_err());
    }

    #[test]
    fn upstreams_are_plain_or_weighted_and_round_trip() {
        let a = api(
            r#"{"name":"x","path":"/x/{id}","upstreams":["http://a:1",{"url":"http://b:2","weight":3}],"lb":"weighted"}"#,
        );
        assert_eq!(a.upstreams[0].weight, 1);
        assert_eq!(a.upstreams[1].weight, 3);
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.contains(r#"["http://a:1",{"url":"http://b:2","weight":3}]"#),
            "{json}"
        );
        assert_eq!(api(&json), a);
        let mut z = a;
        z.upstreams[1].weight = 0;
        assert_eq!(z.validate().unwrap_err().field, "upstreams[1].weight");
    }

    #[test]
    fn forward_credentials_defaults_off_and_needs_auth() {
        let a = api(r#"{"name":"x","prefix":"/x","upstreams":["http://a"]}"#);
        assert!(!a.forward_credentials);
        assert!(!serde_json::to_string(&a)
            .unwrap()
            .contains("forward_credentials"));
        let b = api(
            r#"{"name":"x","prefix":"/x","upstreams":["http://a"],"forward_credentials":true}"#,
        );
        assert_eq!(b.validate().unwrap_err().field, "forward_credentials");
        let c = api(
            r#"{"name":"x","prefix":"/x","upstreams":["http://a"],"auth":["basic"],"forward_credentials":true}"#,
        );
        assert!(c.validate().is_ok());
        assert_eq!(api(&serde_json::to_string(&c).unwrap()), c);
    }

    #[test]
    fn capture_policy_is_tagged() {
        let a = api(
            r#"{"name":"x","prefix":"/x","upstreams":["http://a"],"capture":{"mode":"bodies","max_bytes":4096}}"#,
        );
        assert_eq!(a.capture, CapturePolicy::Bodies { max_bytes: 4096 });
        let mut b = a;
        b.capture = CapturePolicy::Bodies { max_bytes: 0 };
        assert_eq!(b.validate().unwrap_err().field, "capture.max_bytes");
    }

    #[test]
    fn patterns() {
        use Segment::*;
        let p = PathPattern::parse("/orders/{id}/items/*/**").unwrap();
        assert_eq!(
            p.segments,
            vec![
                Literal("orders".into()),
                Param("id".into()),
                Literal("items".into()),
                Any,
                Rest
            ]
        );
        assert_eq!(p.literal_prefix(), "/orders");
        assert!(PathPattern::parse("/").unwrap().segments.is_empty());
        for bad in ["x", "/a//b", "/**/a", "/{}", "/a*", "/{a-b}"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        let a = ApiSpec::prefixed("x", "/orders/", &["http://a"]);
        assert_eq!(
            a.pattern().unwrap().segments,
            vec![Literal("orders".into()), Rest]
        );
        assert_eq!(
            ApiSpec::prefixed("x", "/", &["http://a"])
                .pattern()
                .unwrap()
                .segments,
            vec![Rest]
        );
    }
}
