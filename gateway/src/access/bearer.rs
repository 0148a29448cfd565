//! The `oauth2` auth method: `Authorization: Bearer <access token>` (RFC 6750), and the scopes
//! an API asks of the token.
//!
//! - The token's `iss` is read unverified only to choose its verifier: the gateway's own
//!   issuer ([`OwnIssuer`], the tokens of its token endpoint) or a trusted issuer
//!   (`[[gateway.oauth.trusted_issuers]]`, its JWKS: see [`super::jwks`]); any other issuer is
//!   `invalid_token`.
//! - A trusted issuer's token: signed by the JWK its `kid` names, with an algorithm that key is
//!   for (never `none` or `HS*`); `iss` exactly the issuer; `aud` (a string or an array) holds
//!   the configured audience; `exp` required, `nbf` when present, both with [`LEEWAY_S`]. The
//!   client is the `client_id` claim (RFC 9068), else `azp`, else `sub`; it must be a client
//!   of the access table. Scopes: `scope` (space-separated) or `scp` (an array of strings).
//! - An API listing both `jwt` and `oauth2`: a Bearer token whose `iss` is the gateway's own
//!   issuer or a trusted one is verified as `oauth2`; any other goes to the `[gateway.jwt]`
//!   keys as `jwt`.
//! - A trusted issuer's verified token is kept until its `exp` ([`super::token_cache`]): the
//!   next calls with it skip the signature check, not the other checks.
//! - Authorization: an API's `scopes` must all be in the token's, else 403
//!   `insufficient_scope`. For a token, those scopes are the grant (its issuer granted them:
//!   the client's scopes and its approved products'); an `oauth2` API without `scopes` needs a
//!   grant through one of the client's groups, as for Basic and JWT callers.
//! - Refusals carry RFC 6750 §3's `WWW-Authenticate`: `Bearer` (no token),
//!   `Bearer error="invalid_token"`, `Bearer error="insufficient_scope", scope="…"`. Why a
//!   token was refused goes to the record only.

use std::sync::Arc;

use gatewatch_model::api::AuthMethod;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::auth::AuthUse;
use super::jwks::{IssuerKeys, VerifyKey};
use super::refusal::{Refusal, Refused};
use super::table::{AccessTable, ClientEntry};
use super::token_cache::TokenCache;
use super::{CallerIds, TokenIds};
use crate::oauth::{OwnIssuer, Verified};

/// Leeway on `exp` and `nbf` of trusted issuers' tokens (clocks of two hosts).
pub(crate) const LEEWAY_S: i64 = 30;
/// Longest token read (a JWT of a few dozen claims is under 2 KiB).
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The verifiers of the `oauth2` method, one per gateway.
pub(crate) struct Bearer {
    own: Option<Arc<OwnIssuer>>,
    trusted: Vec<Arc<IssuerKeys>>,
    /// Trusted issuers' tokens verified before.
    cache: TokenCache,
}

/// A verified token and the client it names.
pub(crate) struct TokenCaller {
    pub client: Arc<ClientEntry>,
    pub token: TokenIds,
}

/// What the `oauth2` step found: `None` when the call is not its business (the API does not
/// take `oauth2`, the request has no Bearer token, or an API with `jwt` too got a token of
/// another issuer).
pub(crate) type BearerFound = Option<Result<TokenCaller, (Refused, CallerIds)>>;

impl Bearer {
    pub fn new(own: Option<Arc<OwnIssuer>>, trusted: Vec<Arc<IssuerKeys>>) -> Bearer {
        Bearer {
            own,
            trusted,
            cache: TokenCache::default(),
        }
    }

    /// The trusted issuers (their JWKS tasks are started with the gateway).
    pub fn trusted(&self) -> &[Arc<IssuerKeys>] {
        &self.trusted
    }

    /// Finds the caller of an API that takes `methods`, by its Bearer token (see [`BearerFound`]).
    pub async fn authenticate(
        &self,
        methods: &[AuthMethod],
        headers: &HeaderMap,
        table: &AccessTable,
        now_s: i64,
    ) -> BearerFound {
        if !methods.contains(&AuthMethod::Oauth2) {
            return None;
        }
        // An API key header wins on an API that takes both (as `auth::credential` reads them).
        if methods.contains(&AuthMethod::ApiKey) && headers.contains_key("x-api-key") {
            return None;
        }
        let token = bearer_token(headers)?;
        let tried = CallerIds {
            auth_method: Some(AuthUse::new(AuthMethod::Oauth2, false)),
            ..CallerIds::default()
        };
        let iss = peek_issuer(token);
        if methods.contains(&AuthMethod::Jwt) && !iss.as_deref().is_some_and(|i| self.knows(i)) {
            return None;
        }
        let verified = match self.verify(token, iss.as_deref(), now_s).await {
            Ok(v) => v,
            Err(why) => return Some(Err((invalid_token(why), tried))),
        };
        let token = TokenIds {
            jti: verified.jti.clone(),
            scopes: verified.scopes.clone(),
        };
        let Some(client) = table.clients.get(&*verified.client_id).cloned() else {
            let why = format!(
                "the token of {:?} names client {:?}, which gatewatch does not know",
                verified.issuer, verified.client_id
            );
            let ids = CallerIds {
                token: Some(Box::new(token)),
                ..tried
            };
            return Some(Err((invalid_token(why), ids)));
        };
        Some(Ok(TokenCaller { client, token }))
    }

    /// Forgets the verified tokens (measurements of the uncached path).
    #[cfg(test)]
    pub fn forget_verified(&self) {
        self.cache.clear();
    }

    fn knows(&self, iss: &str) -> bool {
        self.own.as_ref().is_some_and(|o| o.issuer() == iss)
            || self.trusted.iter().any(|t| t.issuer == iss)
    }

    /// The token's claims, or why it is refused. `iss`: its unverified `iss`.
    async fn verify(&self, token: &str, iss: Option<&str>, now_s: i64) -> Result<Verified, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("the token is longer than {MAX_TOKEN_BYTES} bytes"));
        }
        let iss = iss.ok_or("the token is not a JWT with an \"iss\" claim")?;
        if let Some(own) = self.own.as_ref().filter(|o| o.issuer() == iss) {
            return own.verify(token, now_s);
        }
        let Some(issuer) = self.trusted.iter().find(|t| t.issuer == iss) else {
            return Err(format!("the token's issuer {iss:?} is not trusted"));
        };
        if let Some(v) = self.cache.get(token, now_s) {
            return Ok(v);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("the token's header is not valid: {e}"))?;
        let kid = header.kid.as_deref();
        let mut keys = issuer.keys();
        if !keys.knows(kid) {
            keys = issuer.refresh_for(kid).await;
        }
        let key = keys.find(kid, header.alg).ok_or_else(|| match kid {
            Some(kid) if keys.knows(Some(kid)) => {
                format!("key {kid:?} of {iss:?} is not for {:?}", header.alg)
            }
            Some(kid) => format!("{iss:?} publishes no key {kid:?}"),
            None => format!("the token names no key (kid) and {iss:?} publishes several"),
        })?;
        let claims = verify_signature(token, key, header.alg)?;
        let verified = check_claims(&claims, &issuer.issuer, &issuer.audience, now_s)?;
        // `check_claims` read `exp` as a number; the token is good while now < exp + leeway.
        if let Some(exp) = claims.get("exp").and_then(Value::as_f64) {
            let until = (exp.min(i64::MAX as f64 / 2.0) as i64).saturating_add(LEEWAY_S);
            self.cache.put(token, &verified, until, now_s);
        }
        Ok(verified)
    }
}

/// The trusted issuers' key holders from `[gateway.oauth]` (no fetch yet); the error names the
/// bad setting (`oauth.trusted_issuers[1].jwks_uri`).
pub(crate) fn trusted_issuers(
    oauth: &crate::OauthConfig,
    trust: &crate::upstream::tls::SiteTrust,
) -> crate::Result<Vec<Arc<IssuerKeys>>> {
    if oauth.trusted_issuers.is_empty() {
        return Ok(Vec::new());
    }
    let tls = trust
        .client_config()
        .map_err(|m| crate::Error::config("oauth.trusted_issuers", m))?;
    let mut out: Vec<Arc<IssuerKeys>> = Vec::with_capacity(oauth.trusted_issuers.len());
    for (i, t) in oauth.trusted_issuers.iter().enumerate() {
        let field = |f: &str| format!("oauth.trusted_issuers[{i}].{f}");
        if t.issuer.is_empty() {
            return Err(crate::Error::config(field("issuer"), "must not be empty"));
        }
        if out.iter().any(|o| o.issuer == t.issuer) {
            return Err(crate::Error::config(
                field("issuer"),
                format!("{:?} is listed twice", t.issuer),
            ));
        }
        if t.audience.is_empty() {
            return Err(crate::Error::config(field("audience"), "must not be empty"));
        }
        let uri = super::jwks::check_jwks_uri(&t.jwks_uri)
            .map_err(|m| crate::Error::config(field("jwks_uri"), m))?;
        out.push(Arc::new(IssuerKeys::new(
            &t.issuer,
            &t.audience,
            uri,
            tls.clone(),
        )));
    }
    Ok(out)
}

/// The claims, once the signature verifies with `key` under `alg` (one of the key's); times,
/// `iss` and `aud` are checked by [`check_claims`].
fn verify_signature(
    token: &str,
    key: &VerifyKey,
    alg: Algorithm,
) -> Result<Map<String, Value>, String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad = || "the token is not a signed JWT (header.payload.signature)".to_string();
    let (signed, sig) = token.rsplit_once('.').ok_or_else(bad)?;
    let (_, payload) = signed.split_once('.').ok_or_else(bad)?;
    if payload.contains('.') {
        return Err(bad());
    }
    let sig = b64.decode(sig).map_err(|_| bad())?;
    if !key.verifies(alg, signed.as_bytes(), &sig) {
        return Err(format!("the token's {alg:?} signature does not verify"));
    }
    let payload = b64.decode(payload).map_err(|_| bad())?;
    serde_json::from_slice(&payload)
        .map_err(|e| format!("the token's claims are not a JSON object: {e}"))
}

/// The token of `Authorization: Bearer <token>`, if the request has one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// The `iss` of a JWT, unverified: only to choose the verifier.
pub(crate) fn peek_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Peek>(&bytes).ok()?.iss
}

/// The checks of a trusted issuer's claims once the signature verified: `iss`, `aud`, `exp`,
/// `nbf`, the client and the scopes (see the module doc). The error says why (the record's).
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    audience: &str,
    now_s: i64,
) -> Result<Verified, String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(issuer) {
        return Err(format!("\"iss\" is not {issuer:?}"));
    }
    let aud_holds = match claims.get("aud") {
        Some(Value::String(s)) => s == audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_holds {
        return Err(format!("\"aud\" does not hold {audience:?}"));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    let exp = time("exp").ok_or("the token has no numeric \"exp\"")?;
    if (now_s - LEEWAY_S) as f64 >= exp {
        return Err("the token has expired".into());
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or("\"nbf\" is not a number")?;
        if ((now_s + LEEWAY_S) as f64) < nbf {
            return Err("the token is not valid yet (nbf)".into());
        }
    }
    let client_id = client_claim(claims)?;
    let scopes = token_scopes(claims)?;
    let jti = match claims.get("jti") {
        None => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("\"jti\" is not a string".into()),
    };
    Ok(Verified {
        issuer: Arc::from(issuer),
        client_id: Arc::from(client_id),
        jti: Arc::from(jti),
        scopes: Arc::from(scopes),
    })
}

/// The client a token acts for: `client_id` (RFC 9068), else `azp`, else `sub`. The first
/// present must be a non-empty string.
pub(crate) fn client_claim(claims: &Map<String, Value>) -> Result<&str, String> {
    for name in ["client_id", "azp", "sub"] {
        match claims.get(name) {
            None => continue,
            Some(Value::String(s)) if !s.is_empty() => return Ok(s),
            Some(_) => return Err(format!("{name:?} is not a client id")),
        }
    }
    Err("the token names no client (client_id, azp or sub)".into())
}

/// The token's scopes, space-separated: `scope` (a string, RFC 8693/9068) or `scp` (an array
/// of strings, as some IdPs write it; or a string). Each must be a scope name.
pub(crate) fn token_scopes(claims: &Map<String, Value>) -> Result<String, String> {
    let list: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        (Some(_), _) => return Err("\"scope\" is not a string".into()),
        (None, Some(Value::Array(a))) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or("\"scp\" holds a value that is not a string")
            })
            .collect::<Result<_, _>>()?,
        (None, Some(Value::String(s))) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        (None, Some(_)) => return Err("\"scp\" is not an array of strings".into()),
        (None, None) => Vec::new(),
    };
    if list.len() > gatewatch_model::oauth::MAX_SCOPES * 4 {
        return Err("the token carries too many scopes".into());
    }
    for s in &list {
        gatewatch_model::oauth::check_scope(s).map_err(|m| format!("a scope of the token: {m}"))?;
    }
    Ok(list.join(" "))
}

/// The required scopes that `granted` (space-separated) lacks.
pub(crate) fn missing_scopes<'a>(required: &'a [String], granted: &str) -> Vec<&'a str> {
    required
        .iter()
        .filter(|r| !granted.split(' ').any(|g| g == r.as_str()))
        .map(String::as_str)
        .collect()
}

/// The authorize step for a token: every scope the API lists, else 403 `insufficient_scope`.
pub(crate) fn check_scopes(required: &[String], token: &TokenIds) -> Result<(), Refused> {
    let missing = missing_scopes(required, &token.scopes);
    if missing.is_empty() {
        return Ok(());
    }
    let detail = format!(
        "the token lacks scope {:?} (it carries {:?})",
        missing.join(" "),
        &*token.scopes
    );
    // Scope names have no '"' or '\' (RFC 6749 §3.3), so they need no escaping.
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
        required.join(" ")
    );
    let mut refused = Refused::with(Refusal::InsufficientScope, detail);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        refused = refused.header(WWW_AUTHENTICATE, v);
    }
    Err(refused)
}

/// 401 `invalid_token` with its challenge; `why` goes to the record.
pub(crate) fn invalid_token(why: String) -> Refused {
    Refused::with(Refusal::InvalidToken, why).header(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    )
}

/// The challenge of a call without credentials to an API whose only credential is a token
/// (`oauth2`, with or without `mtls`): `WWW-Authenticate: Bearer`.
pub(crate) fn only_bearer(methods: &[AuthMethod]) -> bool {
    methods.contains(&AuthMethod::Oauth2)
        && methods
            .iter()
            .all(|m| matches!(m, AuthMethod::Oauth2 | AuthMethod::Mtls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://idp.example";
    const AUD: &str = "orders-api";

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({"iss": ISS, "aud": AUD, "exp": NOW + 60, "client_id": "acme",
               "jti": "j-1", "scope": "orders.read orders.write"})
    }

    fn with(field: &str, value: Value) -> Map<String, Value> {
        let mut c = claims(good());
        if value.is_null() {
            c.remove(field);
        } else {
            c.insert(field.into(), value);
        }
        c
    }

    #[test]
    fn claims_of_a_good_token() {
        let v = check_claims(&claims(good()), ISS, AUD, NOW).unwrap();
        assert_eq!(&*v.client_id, "acme");
        assert_eq!(&*v.jti, "j-1");
        assert_eq!(&*v.scopes, "orders.read orders.write");
        assert_eq!(&*v.issuer, ISS);
        let in_array = with("aud", json!(["other", AUD]));
        assert!(check_claims(&in_array, ISS, AUD, NOW).is_ok());
        // Within the leeway on both ends.
        assert!(check_claims(&claims(good()), ISS, AUD, NOW + 60 + LEEWAY_S - 1).is_ok());
        let early = with("nbf", json!(NOW + LEEWAY_S));
        assert!(check_claims(&early, ISS, AUD, NOW).is_ok());
    }

    #[test]
    fn each_bad_claim_is_refused() {
        let cases = [
            ("iss", json!("https://evil.example")),
            ("iss", json!("https://IDP.example")),
            ("iss", json!([ISS])),
            ("iss", Value::Null),
            ("aud", json!("other")),
            ("aud", json!("orders")),
            ("aud", json!([])),
            ("aud", json!([["orders-api"]])),
            ("aud", Value::Null),
            ("exp", Value::Null),
            ("exp", json!("1900000000")),
            ("exp", json!(NOW - LEEWAY_S)),
            ("nbf", json!(NOW + LEEWAY_S + 1)),
            ("nbf", json!("0")),
            ("client_id", json!("")),
            ("client_id", json!(7)),
            ("scope", json!(["orders.read"])),
            ("scope", json!("orders.read \"x")),
            ("jti", json!(5)),
        ];
        for (field, value) in cases {
            let c = with(field, value.clone());
            assert!(
                check_claims(&c, ISS, AUD, NOW).is_err(),
                "{field} = {value} passed"
            );
        }
    }

    #[test]
    fn the_client_is_client_id_else_azp_else_sub() {
        let c = claims(json!({"client_id": "a", "azp": "b", "sub": "c"}));
        assert_eq!(client_claim(&c).unwrap(), "a");
        let c = claims(json!({"azp": "b", "sub": "c"}));
        assert_eq!(client_claim(&c).unwrap(), "b");
        let c = claims(json!({"sub": "c"}));
        assert_eq!(client_claim(&c).unwrap(), "c");
        assert!(client_claim(&claims(json!({}))).is_err());
        // The first present decides: a bad client_id is not skipped for sub.
        let c = claims(json!({"client_id": 1, "sub": "c"}));
        assert!(client_claim(&c).is_err());
    }

    #[test]
    fn scopes_from_scope_or_scp() {
        let s = |v: Value| token_scopes(&claims(v));
        assert_eq!(s(json!({"scope": "a  b"})).unwrap(), "a b");
        assert_eq!(s(json!({"scp": ["a", "b"]})).unwrap(), "a b");
        assert_eq!(s(json!({"scp": "a b"})).unwrap(), "a b");
        assert_eq!(s(json!({"scope": "a", "scp": ["b"]})).unwrap(), "a");
        assert_eq!(s(json!({})).unwrap(), "");
        assert!(s(json!({"scp": ["a", 1]})).is_err());
        assert!(
            s(json!({"scp": ["a b"]})).is_err(),
            "a space inside one scp item"
        );
        assert!(s(json!({"scp": {"a": 1}})).is_err());
        assert!(s(json!({"scope": 5})).is_err());
    }

    #[test]
    fn scope_check_needs_every_scope() {
        let req = vec!["orders.read".to_string(), "orders.write".to_string()];
        let token = |s: &str| TokenIds {
            jti: Arc::from("j"),
            scopes: Arc::from(s),
        };
        assert!(check_scopes(&req, &token("orders.write x orders.read")).is_ok());
        assert!(check_scopes(&[], &token("")).is_ok());
        let r = check_scopes(&req, &token("orders.read orders.writer")).unwrap_err();
        assert_eq!(r.refusal, Refusal::InsufficientScope);
        assert_eq!(
            r.headers,
            vec![(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"insufficient_scope\", scope=\"orders.read orders.write\""
                )
            )]
        );
        assert!(r.detail.unwrap().contains("\"orders.write\""));
        // A prefix or a substring is not the scope.
        assert_eq!(
            missing_scopes(&req, "orders"),
            vec!["orders.read", "orders.write"]
        );
        assert_eq!(
            missing_scopes(&req, ""),
            vec!["orders.read", "orders.write"]
        );
    }

    mod signed {
        //! Real signatures against keys held for a trusted issuer.
        use super::*;
        use crate::access::jwks::KeySet;
        use base64::Engine as _;
        use jsonwebtoken::jwk::Jwk;
        use jsonwebtoken::{EncodingKey, Header};

        const RSA_KEY: &str = include_str!("testdata/rs256-test-only.key.pem");
        const RSA_PUB: &str = include_str!("testdata/rs256-test-only.pub.pem");

        fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
            let mut j = Jwk::from_encoding_key(key, alg).unwrap();
            j.common.key_id = Some(kid.into());
            serde_json::to_value(j).unwrap()
        }

        fn ec_key() -> EncodingKey {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap()
        }

        fn sign(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
            let mut h = Header::new(alg);
            h.kid = Some(kid.into());
            jsonwebtoken::encode(&h, claims, key).unwrap()
        }

        fn bearer(keys: Value) -> Bearer {
            let tls = crate::upstream::tls::SiteTrust::default()
                .client_config()
                .unwrap();
            // Loopback port 9: nothing answers, so a refresh fails fast and keeps the keys.
            let issuer = IssuerKeys::new(ISS, AUD, "http://127.0.0.1:9/jwks".parse().unwrap(), tls);
            let doc = json!({ "keys": keys }).to_string();
            issuer.set_keys(KeySet::parse(doc.as_bytes()).unwrap());
            Bearer::new(None, vec![Arc::new(issuer)])
        }

        async fn check(b: &Bearer, token: &str) -> Result<Verified, String> {
            b.verify(token, peek_issuer(token).as_deref(), NOW).await
        }

        #[tokio::test]
        async fn only_the_keys_own_algorithm_verifies() {
            let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
            let ec = ec_key();
            let b = bearer(json!([
                jwk(&rsa, Algorithm::RS256, "r1"),
                jwk(&ec, Algorithm::ES256, "e1")
            ]));
            let rs = sign(&rsa, Algorithm::RS256, "r1", &good());
            assert_eq!(&*check(&b, &rs).await.unwrap().client_id, "acme");
            let es = sign(&ec, Algorithm::ES256, "e1", &good());
            assert_eq!(&*check(&b, &es).await.unwrap().jti, "j-1");
            // The EC token under the RSA key's kid, and the other way round.
            assert!(check(&b, &sign(&ec, Algorithm::ES256, "r1", &good()))
                .await
                .is_err());
            assert!(check(&b, &sign(&rsa, Algorithm::RS256, "e1", &good()))
                .await
                .is_err());
            // HS256 keyed with the RSA public key's bytes (the classic confusion).
            let hs = EncodingKey::from_secret(RSA_PUB.as_bytes());
            let confused = sign(&hs, Algorithm::HS256, "r1", &good());
            assert!(check(&b, &confused).await.is_err());
            // alg none, no signature.
            let b64 =
                |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let none = format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "r1"})),
                b64(&good())
            );
            assert!(check(&b, &none).await.is_err());
            // The payload changed after signing.
            let mut parts: Vec<String> = rs.split('.').map(String::from).collect();
            let mut evil = good();
            evil["scope"] = json!("admin");
            parts[1] = b64(&evil);
            assert!(check(&b, &parts.join(".")).await.is_err());
            // An unknown kid (the refresh fails: nothing listens), an untrusted issuer.
            assert!(check(&b, &sign(&rsa, Algorithm::RS256, "r9", &good()))
                .await
                .is_err());
            let mut other = good();
            other["iss"] = json!("https://evil.example");
            let err = check(&b, &sign(&rsa, Algorithm::RS256, "r1", &other))
                .await
                .unwrap_err();
            assert!(err.contains("not trusted"), "{err}");
        }

        #[tokio::test]
        async fn rsa_pss_and_p384_keys_verify_their_algorithms() {
            let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
            let p384 = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
            let mut any_rsa = jwk(&rsa, Algorithm::RS256, "r-any");
            any_rsa.as_object_mut().unwrap().remove("alg");
            let b = bearer(json!([any_rsa, jwk(&p384, Algorithm::ES384, "p384")]));
            // An RSA key without `alg` verifies the RSA family, PSS included.
            for alg in [Algorithm::RS512, Algorithm::PS256, Algorithm::PS384] {
                let t = sign(&rsa, alg, "r-any", &good());
                assert!(check(&b, &t).await.is_ok(), "{alg:?}");
            }
            assert!(check(&b, &sign(&p384, Algorithm::ES384, "p384", &good()))
                .await
                .is_ok());
            // The header naming another algorithm than the signature's.
            let t = sign(&rsa, Algorithm::RS256, "r-any", &good());
            let (_, rest) = t.split_once('.').unwrap();
            use base64::Engine as _;
            let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({"alg": "PS256", "kid": "r-any"}).to_string());
            assert!(check(&b, &format!("{head}.{rest}")).await.is_err());
        }

        #[tokio::test]
        async fn the_own_issuers_tokens_go_to_own_issuer() {
            // A token naming the own issuer but signed by a trusted issuer's key is refused
            // with the own issuer's reason: it went there, not to the trusted issuers' keys.
            let own = Arc::new(OwnIssuer::new("https://gw.example", "https://gw.example"));
            let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
            let mut b = bearer(json!([jwk(&rsa, Algorithm::RS256, "r1")]));
            b.own = Some(own.clone());
            let mut claims = good();
            claims["iss"] = json!("https://gw.example");
            let token = sign(&rsa, Algorithm::RS256, "r1", &claims);
            let want = own.verify(&token, NOW).unwrap_err();
            assert_eq!(check(&b, &token).await.unwrap_err(), want);
            assert!(b.knows("https://gw.example") && b.knows(ISS) && !b.knows("x"));
        }
    }

    #[test]
    fn bearer_tokens_and_issuers_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", HeaderValue::from_static("bEaReR  abc "));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert("authorization", HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        // header.{"iss":"x"}.sig
        let t = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.";
        assert_eq!(peek_issuer(t).as_deref(), Some("x"));
        assert_eq!(peek_issuer("garbage"), None);
        assert_eq!(peek_issuer(&"a.".repeat(MAX_TOKEN_BYTES)), None);
        assert!(only_bearer(&[AuthMethod::Oauth2]));
        assert!(only_bearer(&[AuthMethod::Mtls, AuthMethod::Oauth2]));
        assert!(!only_bearer(&[AuthMethod::Oauth2, AuthMethod::ApiKey]));
        assert!(!only_bearer(&[AuthMethod::Mtls]));
    }
}
