//! Authentication: which client is calling, from the credentials an API accepts.
//!
//! - `api_key`: `X-API-Key: <key>` or `Authorization: ApiKey <key>`; looked up by its
//!   HMAC-SHA256 under the site's pepper (one hash per call, microseconds);
//! - `basic`: `Authorization: Basic` with the client id and the client secret, checked against
//!   the client's `secret_hash` (same hash, constant-time compare);
//! - `jwt`: `Authorization: Bearer <JWT>` signed HS256 (a configured secret) or RS256 (a
//!   configured PEM public key); `exp` is required, `exp` and `nbf` are checked against the
//!   gateway's clock with a small leeway; the configured claim (default `sub`) names the client.
//!   When `[gateway.jwt] issuer` is set, `iss` must equal it; when `audience` is set, `aud`
//!   (a string or an array of strings) must hold it; a token without the claim is refused
//!   like a wrong one (401 `invalid_credentials`);
//! - `mtls`: the client certificate of the TLS connection, by its fingerprint in a client's
//!   `certificates` (see `Access::identify`, which combines it with the others).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gatewatch_model::api::AuthMethod;
use gatewatch_model::secret;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use gatewatch_model::access::KeyBar;

use super::refusal::Refusal;
use super::table::{AccessTable, ClientEntry, KeyEntry};
use super::CallerIds;

/// A key that signs the JWTs the gateway accepts.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtKey {
    /// HMAC-SHA256 with a shared secret.
    Hs256 {
        /// The shared secret's bytes.
        secret: Vec<u8>,
    },
    /// RSA-SHA256; the public key as PEM (`-----BEGIN PUBLIC KEY-----` or `RSA PUBLIC KEY`).
    Rs256 {
        /// The PEM text.
        public_key_pem: String,
    },
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print a secret.
            JwtKey::Hs256 { .. } => f.write_str("Hs256(..)"),
            JwtKey::Rs256 { .. } => f.write_str("Rs256(..)"),
        }
    }
}

/// Checks JWTs against the configured keys.
pub(crate) struct JwtVerifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    claim: String,
    leeway_s: i64,
    /// `iss` must be this, when set.
    issuer: Option<String>,
    /// `aud` must name this, when set.
    audience: Option<String>,
}

impl JwtVerifier {
    /// Parses the keys; the error names the key (`jwt[1]`) and what is wrong.
    pub fn new(
        keys: &[JwtKey],
        claim: &str,
        leeway: Duration,
    ) -> Result<JwtVerifier, (String, String)> {
        let mut out = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let field = format!("jwt[{i}]");
            match k {
                JwtKey::Hs256 { secret } => {
                    if secret.len() < 16 {
                        return Err((field, "an HS256 secret must be at least 16 bytes".into()));
                    }
                    out.push((Algorithm::HS256, DecodingKey::from_secret(secret)));
                }
                JwtKey::Rs256 { public_key_pem } => {
                    let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
                        .map_err(|e| (field, format!("not an RSA public key in PEM: {e}")))?;
                    out.push((Algorithm::RS256, key));
                }
            }
        }
        if claim.trim().is_empty() {
            return Err(("jwt_client_claim".into(), "must not be empty".into()));
        }
        Ok(JwtVerifier {
            keys: out,
            claim: claim.to_string(),
            leeway_s: leeway.as_secs() as i64,
            issuer: None,
            audience: None,
        })
    }

    /// The same verifier, also requiring `iss` and `aud` when given (empty text: not checked).
    pub fn with_issuer_audience(
        mut self,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> JwtVerifier {
        let set = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        self.issuer = set(issuer);
        self.audience = set(audience);
        self
    }

    /// The client id the token names, when it is signed by a configured key and within its
    /// time (`now_s`: Unix seconds).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<String, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::InvalidCredentials)?;
        let mut validation = Validation::new(header.alg);
        // Times are checked below against the gateway's (injectable) clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = self
            .keys
            .iter()
            .filter(|(alg, _)| *alg == header.alg)
            .find_map(|(_, key)| {
                jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, key, &validation)
                    .ok()
            })
            .ok_or(Refusal::InvalidCredentials)?
            .claims;
        let time = |name: &str| claims.get(name).and_then(serde_json::Value::as_f64);
        let Some(exp) = time("exp") else {
            return Err(Refusal::InvalidCredentials);
        };
        if (now_s - self.leeway_s) as f64 >= exp {
            return Err(Refusal::InvalidCredentials);
        }
        if time("nbf").is_some_and(|nbf| ((now_s + self.leeway_s) as f64) < nbf) {
            return Err(Refusal::InvalidCredentials);
        }
        if let Some(want) = &self.issuer {
            if claims.get("iss").and_then(serde_json::Value::as_str) != Some(want.as_str()) {
                return Err(Refusal::InvalidCredentials);
            }
        }
        if let Some(want) = &self.audience {
            // RFC 7519 §4.1.3: one string, or an array of them.
            let holds = match claims.get("aud") {
                Some(serde_json::Value::String(s)) => s == want,
                Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
                _ => false,
            };
            if !holds {
                return Err(Refusal::InvalidCredentials);
            }
        }
        match claims.get(&self.claim) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(Refusal::InvalidCredentials),
        }
    }
}

/// Who is calling.
pub(crate) struct Caller {
    pub client: Arc<ClientEntry>,
    pub key: Option<Arc<KeyEntry>>,
    /// The client certificate's fingerprint, when it identified the client.
    pub cert: Option<Arc<str>>,
    /// The method that found the caller (with `cert` set, on top of the certificate).
    pub method: AuthMethod,
}

/// The credential that found a caller, and whether a client certificate came with it: the
/// record's `auth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthUse(Used);

/// Kept to a few bytes: refusals carry the caller's ids by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Used {
    Api {
        method: AuthMethod,
        with_mtls: bool,
    },
    /// At the OAuth server's endpoints.
    Client(ClientAuth),
}

/// How a client authenticated at the OAuth server's endpoints (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    SecretBasic,
    SecretPost,
    /// RFC 7523 §2.2.
    PrivateKeyJwt,
}

impl AuthUse {
    pub fn new(method: AuthMethod, with_mtls: bool) -> AuthUse {
        AuthUse(Used::Api { method, with_mtls })
    }

    pub fn client_auth(how: ClientAuth) -> AuthUse {
        AuthUse(Used::Client(how))
    }

    /// `api_key`, `oauth2`, `mtls`, `mtls+api_key`..., `client_secret_basic`,
    /// `client_secret_post`, `private_key_jwt`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Used::Api { method, with_mtls } => method_name(method, with_mtls),
            Used::Client(ClientAuth::SecretBasic) => "client_secret_basic",
            Used::Client(ClientAuth::SecretPost) => "client_secret_post",
            Used::Client(ClientAuth::PrivateKeyJwt) => "private_key_jwt",
        }
    }
}

fn method_name(m: AuthMethod, with_mtls: bool) -> &'static str {
    match (m, with_mtls) {
        (AuthMethod::ApiKey, false) => "api_key",
        (AuthMethod::Basic, false) => "basic",
        (AuthMethod::Jwt, false) => "jwt",
        (AuthMethod::Oauth2, false) => "oauth2",
        (AuthMethod::Mtls, _) => "mtls",
        (AuthMethod::ApiKey, true) => "mtls+api_key",
        (AuthMethod::Basic, true) => "mtls+basic",
        (AuthMethod::Jwt, true) => "mtls+jwt",
        (AuthMethod::Oauth2, true) => "mtls+oauth2",
    }
}

/// What the request carries, among what the API accepts.
enum Credential<'a> {
    ApiKey(&'a str),
    Basic(&'a str),
    Bearer(&'a str),
}

fn credential<'a>(methods: &[AuthMethod], headers: &'a HeaderMap) -> Option<Credential<'a>> {
    let accepts = |m: AuthMethod| methods.contains(&m);
    if accepts(AuthMethod::ApiKey) {
        if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            return Some(Credential::ApiKey(k.trim()));
        }
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("apikey") && accepts(AuthMethod::ApiKey) {
        Some(Credential::ApiKey(rest))
    } else if scheme.eq_ignore_ascii_case("basic") && accepts(AuthMethod::Basic) {
        Some(Credential::Basic(rest))
    } else if scheme.eq_ignore_ascii_case("bearer") && accepts(AuthMethod::Jwt) {
        Some(Credential::Bearer(rest))
    } else {
        None
    }
}

/// Removes the credentials of the forms an API accepts (`methods`), so that what opened the
/// call stops at the gateway: `X-API-Key` (for `api_key`) and an `Authorization` whose scheme
/// is one the API takes (`ApiKey`, `Basic`, `Bearer` for `jwt` and `oauth2`). Another `Authorization` (a scheme the
/// gateway does not read) goes on as the client sent it.
pub(crate) fn strip_credentials(methods: &[AuthMethod], headers: &mut HeaderMap) {
    let accepts = |m: AuthMethod| methods.contains(&m);
    if accepts(AuthMethod::ApiKey) {
        headers.remove("x-api-key");
    }
    let ours = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .any(|v| {
            let scheme = v
                .as_bytes()
                .trim_ascii()
                .split(|&b| b == b' ')
                .next()
                .unwrap_or_default();
            (scheme.eq_ignore_ascii_case(b"apikey") && accepts(AuthMethod::ApiKey))
                || (scheme.eq_ignore_ascii_case(b"basic") && accepts(AuthMethod::Basic))
                || (scheme.eq_ignore_ascii_case(b"bearer")
                    && (accepts(AuthMethod::Jwt) || accepts(AuthMethod::Oauth2)))
        });
    if ours {
        headers.remove(http::header::AUTHORIZATION);
    }
}

/// Finds the caller of an API that accepts `methods`. Key bars (revoked, expired) are checked
/// here, and their refusal names the key's client and the key; the client's own bars are the
/// caller's business.
pub(crate) fn authenticate(
    methods: &[AuthMethod],
    headers: &HeaderMap,
    table: &AccessTable,
    pepper: &[u8],
    jwt: &JwtVerifier,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, (Refusal, CallerIds)> {
    find(methods, headers, table, pepper, jwt, now).map_err(|r| match r {
        Found::Barred(r, key) => (
            r,
            CallerIds {
                client_id: Some(Arc::from(key.spec.client_id.as_str())),
                api_key_id: Some(key.id.clone()),
                app_id: None,
                client_cert: None,
                auth_method: Some(AuthUse::new(AuthMethod::ApiKey, false)),
                ..CallerIds::default()
            },
        ),
        Found::No(r) => (r, CallerIds::default()),
    })
}

/// Why no caller was found.
enum Found {
    No(Refusal),
    /// The key is known but may not be used.
    Barred(Refusal, Arc<KeyEntry>),
}

impl From<Refusal> for Found {
    fn from(r: Refusal) -> Found {
        Found::No(r)
    }
}

fn find(
    methods: &[AuthMethod],
    headers: &HeaderMap,
    table: &AccessTable,
    pepper: &[u8],
    jwt: &JwtVerifier,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, Found> {
    let client = |id: &str| {
        table
            .clients
            .get(id)
            .cloned()
            .ok_or(Refusal::InvalidCredentials)
    };
    match credential(methods, headers).ok_or(Refusal::AuthRequired)? {
        Credential::ApiKey(k) => {
            if k.is_empty() {
                return Err(Refusal::AuthRequired.into());
            }
            let key = table
                .keys_by_hash
                .get(&secret::hash_secret(pepper, k))
                .cloned()
                .ok_or(Refusal::InvalidCredentials)?;
            match key.spec.bar_at(now) {
                Some(KeyBar::Revoked) => return Err(Found::Barred(Refusal::KeyRevoked, key)),
                Some(KeyBar::Expired) => return Err(Found::Barred(Refusal::KeyExpired, key)),
                None => {}
            }
            Ok(Caller {
                client: client(&key.spec.client_id)?,
                key: Some(key),
                cert: None,
                method: AuthMethod::ApiKey,
            })
        }
        Credential::Basic(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| Refusal::InvalidCredentials)?;
            let text = String::from_utf8(decoded).map_err(|_| Refusal::InvalidCredentials)?;
            let (id, secret_text) = text.split_once(':').ok_or(Refusal::InvalidCredentials)?;
            let c = client(id)?;
            let ok = c
                .spec
                .secret_hash
                .as_deref()
                .is_some_and(|h| secret::verify_secret(pepper, secret_text, h));
            if !ok {
                return Err(Refusal::InvalidCredentials.into());
            }
            Ok(Caller {
                client: c,
                key: None,
                cert: None,
                method: AuthMethod::Basic,
            })
        }
        Credential::Bearer(token) => {
            let id = jwt.verify(token, now.timestamp())?;
            Ok(Caller {
                client: client(&id)?,
                key: None,
                cert: None,
                method: AuthMethod::Jwt,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &[u8] = b"a-shared-secret-of-32-bytes-long";

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            &[JwtKey::Hs256 {
                secret: SECRET.to_vec(),
            }],
            "sub",
            Duration::from_secs(5),
        )
        .unwrap()
    }

    fn token(claims: serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn jwt_times_and_signatures_are_checked() {
        let v = verifier();
        let now = 1_800_000_000;
        let good = token(serde_json::json!({"sub": "acme", "exp": now + 60}), SECRET);
        assert_eq!(v.verify(&good, now).unwrap(), "acme");
        // Expired, but within the leeway; then past it.
        assert_eq!(v.verify(&good, now + 62).unwrap(), "acme");
        assert_eq!(v.verify(&good, now + 65), Err(Refusal::InvalidCredentials));
        let early = token(
            serde_json::json!({"sub": "acme", "exp": now + 60, "nbf": now + 30}),
            SECRET,
        );
        assert_eq!(v.verify(&early, now), Err(Refusal::InvalidCredentials));
        assert!(v.verify(&early, now + 27).is_ok());
        let forged = token(
            serde_json::json!({"sub": "acme", "exp": now + 60}),
            b"another-secret-another-secret-!!",
        );
        assert_eq!(v.verify(&forged, now), Err(Refusal::InvalidCredentials));
        let no_exp = token(serde_json::json!({"sub": "acme"}), SECRET);
        assert_eq!(v.verify(&no_exp, now), Err(Refusal::InvalidCredentials));
        assert_eq!(v.verify("not.a.jwt", now), Err(Refusal::InvalidCredentials));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_set() {
        let now = 1_800_000_000;
        let v = verifier().with_issuer_audience(Some("https://idp.example"), Some("orders-api"));
        let with = |claims: serde_json::Value| token(claims, SECRET);
        let exp = now + 60;
        let good = with(serde_json::json!({
            "sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": "orders-api"
        }));
        assert_eq!(v.verify(&good, now).unwrap(), "acme");
        let in_array = with(serde_json::json!({
            "sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": ["other", "orders-api"]
        }));
        assert_eq!(v.verify(&in_array, now).unwrap(), "acme");
        // Each attack: wrong, missing, wrong type, a prefix, wrong case, an empty array.
        for claims in [
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://evil.example", "aud": "orders-api"}),
            serde_json::json!({"sub": "acme", "exp": exp, "aud": "orders-api"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": ["https://idp.example"], "aud": "orders-api"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": "other"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://idp.example"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": "orders"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://IDP.example", "aud": "orders-api"}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": []}),
            serde_json::json!({"sub": "acme", "exp": exp, "iss": "https://idp.example", "aud": 7}),
        ] {
            assert_eq!(
                v.verify(&with(claims.clone()), now),
                Err(Refusal::InvalidCredentials),
                "{claims}"
            );
        }
        // Unset (or empty): neither is looked at.
        let open = verifier().with_issuer_audience(Some(""), None);
        let bare = with(serde_json::json!({"sub": "acme", "exp": exp, "iss": "anyone"}));
        assert_eq!(open.verify(&bare, now).unwrap(), "acme");
        let only_aud = verifier().with_issuer_audience(None, Some("orders-api"));
        let aud_ok = with(serde_json::json!({"sub": "acme", "exp": exp, "aud": "orders-api"}));
        assert_eq!(only_aud.verify(&aud_ok, now).unwrap(), "acme");
        assert_eq!(
            only_aud.verify(&bare, now),
            Err(Refusal::InvalidCredentials)
        );
    }

    #[test]
    fn rs256_tokens_verify_against_the_public_key() {
        // A key pair made for this test only (openssl genrsa 2048).
        let private = include_str!("testdata/rs256-test-only.key.pem");
        let public = include_str!("testdata/rs256-test-only.pub.pem");
        let v = JwtVerifier::new(
            &[
                JwtKey::Hs256 {
                    secret: SECRET.to_vec(),
                },
                JwtKey::Rs256 {
                    public_key_pem: public.into(),
                },
            ],
            "client",
            Duration::from_secs(5),
        )
        .unwrap();
        let now = 1_800_000_000;
        let claims = serde_json::json!({"sub": "user-7", "client": "acme", "exp": now + 60});
        let signed = encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
        )
        .unwrap();
        // The configured claim names the client, not `sub`.
        assert_eq!(v.verify(&signed, now).unwrap(), "acme");
        // An HS256 token signed with the *public key* as secret (the alg confusion attack)
        // is refused: HS256 is checked only against HS256 secrets.
        let confused = token(claims, public.as_bytes());
        assert_eq!(v.verify(&confused, now), Err(Refusal::InvalidCredentials));
    }

    #[test]
    fn bad_keys_are_named() {
        let e = JwtVerifier::new(
            &[
                JwtKey::Hs256 {
                    secret: SECRET.to_vec(),
                },
                JwtKey::Rs256 {
                    public_key_pem: "nope".into(),
                },
            ],
            "sub",
            Duration::ZERO,
        )
        .err()
        .unwrap();
        assert_eq!(e.0, "jwt[1]");
        let e = JwtVerifier::new(
            &[JwtKey::Hs256 {
                secret: b"short".to_vec(),
            }],
            "sub",
            Duration::ZERO,
        )
        .err()
        .unwrap();
        assert_eq!(e.0, "jwt[0]");
    }

    #[test]
    fn credentials_of_the_accepted_forms_are_stripped() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            h
        };
        let left = |methods: &[AuthMethod], pairs: &[(&str, &str)]| {
            let mut h = headers(pairs);
            strip_credentials(methods, &mut h);
            let mut names: Vec<String> = h
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                .collect();
            names.sort();
            names
        };
        use AuthMethod::*;
        let all = [ApiKey, Basic, Jwt];
        assert_eq!(
            left(&all, &[("x-api-key", "k"), ("accept", "*/*")]),
            ["accept: */*"]
        );
        for a in ["ApiKey k", "basic YTpi", " Bearer x.y.z", "BEARER x"] {
            assert!(left(&all, &[("authorization", a)]).is_empty(), "{a}");
        }
        // A scheme the gateway does not read, or one this API does not take, goes on.
        assert_eq!(
            left(&all, &[("authorization", "Digest x")]),
            ["authorization: Digest x"]
        );
        assert_eq!(
            left(
                &[ApiKey],
                &[("authorization", "Bearer x"), ("x-api-key", "k")]
            ),
            ["authorization: Bearer x"]
        );
        assert_eq!(
            left(&[Jwt], &[("x-api-key", "k"), ("authorization", "Bearer x")]),
            ["x-api-key: k"]
        );
        // bearer: an `oauth2` API's token stops at the gateway too.
        assert_eq!(
            left(
                &[Oauth2],
                &[("x-api-key", "k"), ("authorization", "bearer x.y.z")]
            ),
            ["x-api-key: k"]
        );
        assert_eq!(
            left(&[Oauth2], &[("authorization", "Basic YTpi")]),
            ["authorization: Basic YTpi"]
        );
    }

    #[test]
    fn credentials_are_taken_only_in_the_forms_the_api_accepts() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "gwk_1".parse().unwrap());
        assert!(matches!(
            credential(&[AuthMethod::ApiKey], &h),
            Some(Credential::ApiKey("gwk_1"))
        ));
        assert!(credential(&[AuthMethod::Basic], &h).is_none());
        let mut h = HeaderMap::new();
        h.insert("authorization", "apikey gwk_2".parse().unwrap());
        assert!(matches!(
            credential(&[AuthMethod::ApiKey], &h),
            Some(Credential::ApiKey("gwk_2"))
        ));
        h.insert("authorization", "Bearer x.y.z".parse().unwrap());
        assert!(matches!(
            credential(&[AuthMethod::Jwt], &h),
            Some(Credential::Bearer("x.y.z"))
        ));
        assert!(credential(&[AuthMethod::ApiKey, AuthMethod::Basic], &h).is_none());
    }
}
