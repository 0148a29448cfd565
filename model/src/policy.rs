//! An API's request policies (issue 17): message checks, request signatures, idempotency,
//! one-time transaction tokens, the body limit, CORS, deny lists and the API's own rate. Each
//! is a field of [`crate::ApiSpec`], off when absent or empty, and each is a phase module of
//! the gateway (its request phase runs them in the order of [`crate::ApiSpec`]'s fields here).
//! This module holds their shapes and the checks serde cannot make; errors name the field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client::{parse_cidr, Rate};
use crate::field::{bad, FieldError};

/// A message check: what the scanner looks for in the request's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// SQL injection (a libinjection-class tokenizer and fingerprints).
    Sqli,
    /// Cross-site scripting (HTML/JavaScript contexts).
    Xss,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Sqli => "sqli",
            Check::Xss => "xss",
        }
    }
}

/// What a finding of a message check does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// Refused 403 `blocked` (outcome `refused_blocked`), the finding in the record.
    #[default]
    Block,
    /// Proxied as usual; the finding is only recorded (to tune before blocking).
    Monitor,
}

impl CheckMode {
    pub fn is_default(&self) -> bool {
        *self == CheckMode::Block
    }
}

/// RFC 9421 HTTP Message Signatures on an API's requests (the seeds' SignCode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignaturePolicy {
    /// Refuse unsigned calls (401 `bad_signature`); `false` checks a signature when one is
    /// sent and lets unsigned calls through.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub required: bool,
    /// What the signature must cover: derived components (`@method`, `@path`, `@query`,
    /// `@authority`, `@target-uri`, `@scheme`, `@request-target`) and header names in lower
    /// case (`content-digest`, RFC 9530, binds the body). At least one; at most 16.
    #[serde(default = "SignaturePolicy::default_components")]
    pub components: Vec<String>,
    /// `created` may be at most this old, and this far in the future (clock skew).
    #[serde(default = "SignaturePolicy::default_max_age")]
    #[schema(minimum = 1, maximum = 86400, default = 300)]
    pub max_age_secs: u32,
    /// A `nonce` must be sent; one seen before within `max_age_secs` is refused (a nonce is
    /// always checked when sent).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub nonce_required: bool,
}

impl SignaturePolicy {
    pub fn default_components() -> Vec<String> {
        ["@method", "@path", "@query", "content-digest"]
            .map(String::from)
            .to_vec()
    }
    fn default_max_age() -> u32 {
        300
    }
}

/// The derived components (RFC 9421 §2.2) a policy may require.
pub const DERIVED_COMPONENTS: [&str; 7] = [
    "@method",
    "@target-uri",
    "@authority",
    "@scheme",
    "@request-target",
    "@path",
    "@query",
];

/// Idempotency keys (the IETF httpapi `Idempotency-Key` header; the seeds' TxToken duplicate
/// check): the first answer to a key is kept and replayed to repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyPolicy {
    /// Methods the key applies to (upper case); others pass as usual.
    #[serde(default = "IdempotencyPolicy::default_methods")]
    #[schema(schema_with = crate::schema::methods)]
    pub methods: Vec<String>,
    /// How long a first answer is kept and replayed.
    #[serde(default = "IdempotencyPolicy::default_ttl")]
    #[schema(minimum = 1, maximum = 604800, default = 86400)]
    pub ttl_secs: u32,
    /// A call of those methods without the header is refused (400).
    #[serde(default)]
    pub required: bool,
    /// Largest answer body kept for replay; a repeat of a key whose answer was larger is
    /// answered 409 (the first answer cannot be given twice).
    #[serde(default = "IdempotencyPolicy::default_max_answer")]
    #[schema(minimum = 1, maximum = 1048576, default = 65536)]
    pub max_answer_bytes: u32,
}

impl IdempotencyPolicy {
    fn default_methods() -> Vec<String> {
        vec!["POST".into()]
    }
    fn default_ttl() -> u32 {
        86_400
    }
    fn default_max_answer() -> u32 {
        64 * 1024
    }
}

/// One-time transaction tokens (the seeds' TxToken): a client asks the gateway for a token
/// bound to itself and this API; one later call must carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxTokenPolicy {
    /// Methods that must carry a token (upper case).
    #[serde(default = "IdempotencyPolicy::default_methods")]
    #[schema(schema_with = crate::schema::methods)]
    pub methods: Vec<String>,
    /// How long an issued token may wait for its call.
    #[serde(default = "TxTokenPolicy::default_ttl")]
    #[schema(minimum = 1, maximum = 86400, default = 300)]
    pub ttl_secs: u32,
}

impl TxTokenPolicy {
    fn default_ttl() -> u32 {
        300
    }
}

/// Cross-origin calls from browsers (the Fetch standard's CORS protocol); preflights are
/// answered by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsPolicy {
    /// Allowed origins, `scheme://host[:port]` exactly, or `*` (any; not with
    /// `credentials`). At least one.
    #[schema(min_items = 1)]
    pub origins: Vec<String>,
    /// Methods allowed across origins; empty: the API's `methods` (all when it lists none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = crate::schema::methods)]
    pub methods: Vec<String>,
    /// Request headers allowed; empty: the CORS-safelisted ones plus `Content-Type`,
    /// `Authorization` and `Idempotency-Key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Response headers a page's script may read beyond the safelisted ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight's answer, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 86400)]
    pub max_age: Option<u32>,
    /// Allow cookies and credentials (`Access-Control-Allow-Credentials: true`).
    #[serde(default)]
    pub credentials: bool,
}

/// A public key a client signs requests with (RFC 9421 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// The signature's `keyid`: letters, digits, `.`, `_`, `-`, 1 to 64; unique within the
    /// client.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub id: String,
    pub alg: SigningAlg,
    /// The public key, PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    #[schema(pattern = "^-----BEGIN PUBLIC KEY-----")]
    pub public_key: String,
}

/// Signature algorithms of RFC 9421 §3.3 that a client's public key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum SigningAlg {
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl SigningAlg {
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            SigningAlg::Ed25519 => "ed25519",
        }
    }
}

/// Most signing keys of a client.
pub const MAX_SIGNING_KEYS: usize = 8;

/// The DER of a PEM `PUBLIC KEY` block.
pub fn public_key_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|r| r.strip_suffix("-----END PUBLIC KEY-----"))
        .ok_or("must be a PEM block -----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----")?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the PEM block is not base64".to_string())
}

/// The client's `signing_keys`: well formed, ids unique, the key's size fits its algorithm
/// (SubjectPublicKeyInfo of a P-256 point: 91 bytes; of an Ed25519 key: 44).
pub fn check_signing_keys(keys: &[SigningKey]) -> Result<(), FieldError> {
    if keys.len() > MAX_SIGNING_KEYS {
        return bad(
            "signing_keys",
            format!("lists more than {MAX_SIGNING_KEYS} keys"),
        );
    }
    for (i, k) in keys.iter().enumerate() {
        let at = |f: &str| format!("signing_keys[{i}].{f}");
        let id_ok = !k.id.is_empty()
            && k.id.len() <= 64
            && k.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b));
        if !id_ok {
            return bad(at("id"), "1 to 64 letters, digits, '.', '_' or '-'");
        }
        if keys[..i].iter().any(|o| o.id == k.id) {
            return bad(at("id"), format!("{:?} is used twice", k.id));
        }
        let der =
            public_key_der(&k.public_key).map_err(|m| FieldError::new(at("public_key"), m))?;
        let expected = match k.alg {
            SigningAlg::EcdsaP256Sha256 => 91,
            SigningAlg::Ed25519 => 44,
        };
        if der.len() != expected {
            return bad(
                at("public_key"),
                format!("is not a {} public key", k.alg.name()),
            );
        }
    }
    Ok(())
}

/// Largest `max_body_bytes` (1 GiB): a bigger body is not an API call.
pub const MAX_BODY_LIMIT: u64 = 1 << 30;
/// Most entries of a deny list.
pub const MAX_DENY: usize = 1024;
/// Most headers a message check scans.
pub const MAX_CHECK_HEADERS: usize = 16;

fn yes() -> bool {
    true
}

/// The policy fields of an API, borrowed for validation (see [`crate::ApiSpec::validate`]).
pub(crate) struct Policies<'a> {
    pub checks: &'a [Check],
    pub check_mode: CheckMode,
    pub check_headers: &'a [String],
    pub signature: Option<&'a SignaturePolicy>,
    pub idempotency: Option<&'a IdempotencyPolicy>,
    pub tx_token: Option<&'a TxTokenPolicy>,
    pub max_body_bytes: Option<u64>,
    pub cors: Option<&'a CorsPolicy>,
    pub ip_deny: &'a [String],
    pub rate: Option<&'a Rate>,
    /// The API has `auth` (signatures and transaction tokens name a client).
    pub has_auth: bool,
}

impl Policies<'_> {
    pub(crate) fn validate(&self) -> Result<(), FieldError> {
        for (i, c) in self.checks.iter().enumerate() {
            if self.checks[..i].contains(c) {
                return bad(
                    format!("checks[{i}]"),
                    format!("{:?} is listed twice", c.name()),
                );
            }
        }
        if self.check_mode != CheckMode::Block && self.checks.is_empty() {
            return bad("check_mode", "only an API with `checks` has a check mode");
        }
        if self.check_headers.len() > MAX_CHECK_HEADERS {
            return bad(
                "check_headers",
                format!("lists more than {MAX_CHECK_HEADERS} headers"),
            );
        }
        for (i, h) in self.check_headers.iter().enumerate() {
            check_header_name(h).map_err(|m| FieldError::new(format!("check_headers[{i}]"), m))?;
        }
        if !self.check_headers.is_empty() && self.checks.is_empty() {
            return bad("check_headers", "only an API with `checks` scans headers");
        }
        if let Some(s) = self.signature {
            validate_signature(s).map_err(|e| e.under("signature"))?;
            if !self.has_auth {
                return bad(
                    "signature",
                    "only an API with `auth` checks signatures (the key belongs to the client the credentials name)",
                );
            }
        }
        if let Some(p) = self.idempotency {
            check_methods(&p.methods).map_err(|e| e.under("idempotency"))?;
            if p.ttl_secs == 0 || p.ttl_secs > 604_800 {
                return bad("idempotency.ttl_secs", "must be 1 to 604800 (7 days)");
            }
            if p.max_answer_bytes == 0 || p.max_answer_bytes > 1 << 20 {
                return bad("idempotency.max_answer_bytes", "must be 1 to 1048576");
            }
        }
        if let Some(t) = self.tx_token {
            check_methods(&t.methods).map_err(|e| e.under("tx_token"))?;
            if t.ttl_secs == 0 || t.ttl_secs > 86_400 {
                return bad("tx_token.ttl_secs", "must be 1 to 86400 (a day)");
            }
            if !self.has_auth {
                return bad(
                    "tx_token",
                    "only an API with `auth` issues transaction tokens (a token is bound to its client)",
                );
            }
        }
        if let Some(n) = self.max_body_bytes {
            if n == 0 || n > MAX_BODY_LIMIT {
                return bad("max_body_bytes", format!("must be 1 to {MAX_BODY_LIMIT}"));
            }
        }
        if let Some(c) = self.cors {
            validate_cors(c).map_err(|e| e.under("cors"))?;
        }
        check_deny_list("ip_deny", self.ip_deny)?;
        if let Some(r) = self.rate {
            if r.per_second == 0 {
                return bad(
                    "rate.per_second",
                    "must be at least 1 (leave rate out for no limit)",
                );
            }
            if r.burst == Some(0) {
                return bad("rate.burst", "must be at least 1");
            }
        }
        Ok(())
    }
}

/// A deny list: addresses or CIDR blocks, at most [`MAX_DENY`].
pub fn check_deny_list(field: &str, list: &[String]) -> Result<(), FieldError> {
    if list.len() > MAX_DENY {
        return bad(field, format!("lists more than {MAX_DENY} entries"));
    }
    for (i, c) in list.iter().enumerate() {
        parse_cidr(c).map_err(|m| FieldError::new(format!("{field}[{i}]"), m))?;
    }
    Ok(())
}

fn check_methods(methods: &[String]) -> Result<(), FieldError> {
    if methods.is_empty() {
        return bad("methods", "must name at least one method");
    }
    for (i, m) in methods.iter().enumerate() {
        if !crate::api::METHODS.contains(&m.as_str()) {
            return bad(
                format!("methods[{i}]"),
                format!("{m:?} is not an HTTP method (upper case: GET, POST, …)"),
            );
        }
    }
    Ok(())
}

/// A header name as RFC 9110 spells a token, in lower case.
fn check_header_name(h: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if h.is_empty() || h.len() > 128 || !h.bytes().all(token) {
        return Err(format!("{h:?} is not a header name"));
    }
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{h:?}: write header names in lower case"));
    }
    Ok(())
}

fn validate_signature(s: &SignaturePolicy) -> Result<(), FieldError> {
    if s.components.is_empty() {
        return bad("components", "must name at least one component");
    }
    if s.components.len() > 16 {
        return bad("components", "lists more than 16 components");
    }
    for (i, c) in s.components.iter().enumerate() {
        let field = format!("components[{i}]");
        if c.starts_with('@') {
            if !DERIVED_COMPONENTS.contains(&c.as_str()) {
                return bad(
                    field,
                    format!(
                        "{c:?} is not a derived component ({})",
                        DERIVED_COMPONENTS.join(", ")
                    ),
                );
            }
        } else {
            check_header_name(c).map_err(|m| FieldError::new(field.clone(), m))?;
        }
        if s.components[..i].contains(c) {
            return bad(field, format!("{c:?} is listed twice"));
        }
    }
    if s.max_age_secs == 0 || s.max_age_secs > 86_400 {
        return bad("max_age_secs", "must be 1 to 86400");
    }
    Ok(())
}

fn validate_cors(c: &CorsPolicy) -> Result<(), FieldError> {
    if c.origins.is_empty() {
        return bad("origins", "must name at least one origin (or \"*\")");
    }
    for (i, o) in c.origins.iter().enumerate() {
        let field = format!("origins[{i}]");
        if o == "*" {
            if c.credentials {
                return bad(
                    field,
                    "\"*\" cannot be used with `credentials` (name the origins)",
                );
            }
            continue;
        }
        check_origin(o).map_err(|m| FieldError::new(field, m))?;
    }
    if !c.methods.is_empty() {
        check_methods(&c.methods)?;
    }
    for (field, list) in [
        ("headers", &c.headers),
        ("expose_headers", &c.expose_headers),
    ] {
        for (i, h) in list.iter().enumerate() {
            let lower = h.to_ascii_lowercase();
            check_header_name(&lower).map_err(|m| FieldError::new(format!("{field}[{i}]"), m))?;
        }
    }
    if c.max_age.is_some_and(|a| a > 86_400) {
        return bad("max_age", "must be at most 86400");
    }
    Ok(())
}

/// `scheme://host[:port]`, as a browser sends it in `Origin` (no path, no trailing `/`).
fn check_origin(o: &str) -> Result<(), String> {
    let url = url::Url::parse(o).map_err(|e| format!("{o:?} is not an origin: {e}"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != o {
        return Err(format!(
            "{o:?} is not an origin as browsers send it (scheme://host[:port], lower case, no path)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::ApiSpec;

    fn api(extra: serde_json::Value) -> Result<ApiSpec, String> {
        let mut v = serde_json::json!({
            "name": "Orders", "prefix": "/orders", "upstreams": ["http://127.0.0.1:9"],
            "auth": ["api_key"]
        });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let spec: ApiSpec = serde_json::from_value(v).map_err(|e| e.to_string())?;
        spec.validate().map(|_| spec).map_err(|e| e.field)
    }

    #[test]
    fn every_policy_takes_its_documented_shape_with_defaults() {
        let spec = api(serde_json::json!({
            "checks": ["sqli", "xss"], "check_mode": "monitor", "check_headers": ["user-agent"],
            "signature": {}, "idempotency": {}, "tx_token": {"ttl_secs": 60},
            "max_body_bytes": 1024,
            "cors": {"origins": ["https://app.example.com"], "max_age": 600, "credentials": true},
            "ip_deny": ["10.0.0.0/8", "::1"], "rate": {"per_second": 100, "burst": 200}
        }))
        .unwrap();
        let s = spec.signature.as_ref().unwrap();
        assert!(s.required && s.nonce_required);
        assert_eq!(
            s.components,
            ["@method", "@path", "@query", "content-digest"]
        );
        let i = spec.idempotency.as_ref().unwrap();
        assert_eq!(
            (i.methods.as_slice(), i.ttl_secs, i.required),
            (&["POST".to_string()][..], 86_400, false)
        );
        // Written back without the defaults that were left out.
        let back = serde_json::to_value(&spec).unwrap();
        assert!(back.get("check_mode").is_some());
        assert_eq!(serde_json::from_value::<ApiSpec>(back).unwrap(), spec);
        let plain = api(serde_json::json!({})).unwrap();
        let text = serde_json::to_string(&plain).unwrap();
        for f in [
            "checks",
            "check_mode",
            "signature",
            "idempotency",
            "cors",
            "ip_deny",
            "rate",
            "max_body_bytes",
        ] {
            assert!(!text.contains(f), "{f} written when off: {text}");
        }
    }

    #[test]
    fn mistakes_name_their_field() {
        let cases = [
            (serde_json::json!({"checks": ["sqli", "sqli"]}), "checks[1]"),
            (serde_json::json!({"check_mode": "monitor"}), "check_mode"),
            (
                serde_json::json!({"checks": ["xss"], "check_headers": ["User-Agent"]}),
                "check_headers[0]",
            ),
            (
                serde_json::json!({"signature": {"components": []}}),
                "signature.components",
            ),
            (
                serde_json::json!({"signature": {"components": ["@body"]}}),
                "signature.components[0]",
            ),
            (
                serde_json::json!({"signature": {"max_age_secs": 0}}),
                "signature.max_age_secs",
            ),
            (
                serde_json::json!({"idempotency": {"methods": ["post"]}}),
                "idempotency.methods[0]",
            ),
            (
                serde_json::json!({"idempotency": {"ttl_secs": 0}}),
                "idempotency.ttl_secs",
            ),
            (
                serde_json::json!({"tx_token": {"methods": []}}),
                "tx_token.methods",
            ),
            (serde_json::json!({"max_body_bytes": 0}), "max_body_bytes"),
            (serde_json::json!({"cors": {"origins": []}}), "cors.origins"),
            (
                serde_json::json!({"cors": {"origins": ["https://a.example/"]}}),
                "cors.origins[0]",
            ),
            (
                serde_json::json!({"cors": {"origins": ["*"], "credentials": true}}),
                "cors.origins[0]",
            ),
            (
                serde_json::json!({"cors": {"origins": ["*"], "max_age": 90000}}),
                "cors.max_age",
            ),
            (
                serde_json::json!({"ip_deny": ["10.0.0.0/33"]}),
                "ip_deny[0]",
            ),
            (
                serde_json::json!({"rate": {"per_second": 0}}),
                "rate.per_second",
            ),
        ];
        for (extra, field) in cases {
            assert_eq!(api(extra.clone()).unwrap_err(), field, "{extra}");
        }
        // Signatures and transaction tokens name a client: not on a public API.
        let mut public = serde_json::json!({"signature": {}});
        public["auth"] = serde_json::json!([]);
        assert_eq!(api(public).unwrap_err(), "signature");
        let unknown = api(serde_json::json!({"cors": {"origins": ["*"], "allow": 1}}));
        assert!(unknown.unwrap_err().contains("unknown field"));
    }
}
