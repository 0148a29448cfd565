//! The public keys of a trusted token issuer (`[[gateway.oauth.trusted_issuers]]`), from its
//! JWKS (RFC 7517).
//!
//! - Fetched at start and refreshed in the background: every `Cache-Control: max-age` of the
//!   answer, kept within [`MIN_PERIOD`]..[`MAX_PERIOD`] ([`DEFAULT_PERIOD`] without one); a
//!   failed fetch is retried after [`RETRY_AFTER_FAILURE`] and the keys held stay in use
//!   (an IdP that is down does not lock out the tokens it already signed).
//! - Refreshed on a token whose `kid` is unknown — at most once per [`DEMAND_INTERVAL`] per
//!   issuer, and single-flight: calls that meet an unknown `kid` together wait for one fetch.
//!   A flood of made-up `kid`s costs the IdP one fetch per interval, not one per call.
//! - Bounded: [`FETCH_TIMEOUT`] for the whole exchange, [`MAX_JWKS_BYTES`] of answer,
//!   [`MAX_KEYS`] keys kept.
//! - Each key verifies the algorithms it is for only: its `alg` when the JWK names one, else
//!   its family's (RSA: RS*/PS*; EC: ES256 on P-256, ES384 on P-384). Keys for encryption
//!   (`use: enc`), symmetric keys (`kty: oct`) and unknown types are skipped: a token signed
//!   `HS256` with an RSA key's public bytes, or `alg: none`, finds no key.
//! - `https://` through rustls (the system's roots and `[gateway] upstream_ca_files`); plain
//!   `http://` only to a loopback address (an IdP on the same host; the configuration refuses
//!   any other).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine as _;
use bytes::Bytes;
use http::{header, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::Algorithm;
use ring::signature;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;
use tracing::{debug, warn};

/// Least time between two fetches caused by unknown `kid`s, per issuer.
pub(crate) const DEMAND_INTERVAL: Duration = Duration::from_secs(10);
/// The background refresh without a `max-age`.
pub(crate) const DEFAULT_PERIOD: Duration = Duration::from_secs(300);
/// Bounds of a `max-age` taken as the background refresh period.
pub(crate) const MIN_PERIOD: Duration = Duration::from_secs(60);
pub(crate) const MAX_PERIOD: Duration = Duration::from_secs(86_400);
/// The next background try after a failed fetch.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Connect, send, and read the whole answer.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS answer read.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys kept of one JWKS (the first ones usable).
pub(crate) const MAX_KEYS: usize = 32;

/// One public key and the algorithms it verifies (with ring: RSA keys of 2048 to 8192 bits).
pub(crate) struct VerifyKey {
    key: PublicKey,
    pub algs: Vec<Algorithm>,
}

enum PublicKey {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point (`04 || x || y`).
    Ec(Vec<u8>),
}

impl VerifyKey {
    /// Whether `sig` is this key's signature of `message` under `alg` (one of `algs`).
    pub fn verifies(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        use signature::*;
        if !self.algs.contains(&alg) {
            return false;
        }
        match &self.key {
            PublicKey::Rsa { n, e } => {
                let params: &RsaParameters = match alg {
                    Algorithm::RS256 => &RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            PublicKey::Ec(point) => {
                let params: &EcdsaVerificationAlgorithm = match alg {
                    Algorithm::ES256 => &ECDSA_P256_SHA256_FIXED,
                    Algorithm::ES384 => &ECDSA_P384_SHA384_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(params, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

/// The usable keys of one JWKS.
#[derive(Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerifyKey>>,
    /// Keys without a `kid` (a token without one may use the set's only key).
    all: Vec<Arc<VerifyKey>>,
}

impl KeySet {
    /// Parses a JWKS document; keys that are not usable for signatures are skipped. The error
    /// says why the whole document is refused (not JSON, no `keys` array).
    pub fn parse(body: &[u8]) -> Result<KeySet, String> {
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the JWKS is not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("the JWKS has no \"keys\" array")?;
        let mut set = KeySet::default();
        for k in keys {
            if set.all.len() >= MAX_KEYS {
                warn!(kept = MAX_KEYS, "a JWKS lists more keys than are kept");
                break;
            }
            let Ok(jwk) = serde_json::from_value::<Jwk>(k.clone()) else {
                continue;
            };
            let Some(key) = usable(&jwk) else {
                continue;
            };
            let key = Arc::new(key);
            if let Some(kid) = &jwk.common.key_id {
                set.by_kid.entry(kid.clone()).or_insert_with(|| key.clone());
            }
            set.all.push(key);
        }
        Ok(set)
    }

    /// The key for a token's `kid`, if it verifies `alg`. Without a `kid`, the set's only key.
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Arc<VerifyKey>> {
        let key = match kid {
            Some(kid) => self.by_kid.get(kid)?,
            None if self.all.len() == 1 => &self.all[0],
            None => return None,
        };
        key.algs.contains(&alg).then_some(key)
    }

    /// Whether the set knows the `kid` (for any algorithm).
    pub fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(kid) => self.by_kid.contains_key(kid),
            None => self.all.len() == 1,
        }
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }
}

/// The key and its algorithms, when a JWK is a public signature key gatewatch verifies with.
fn usable(jwk: &Jwk) -> Option<VerifyKey> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    use Algorithm::*;
    let b64 = |s: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()
    };
    let (family, key): (Vec<Algorithm>, PublicKey) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (
            vec![RS256, RS384, RS512, PS256, PS384, PS512],
            PublicKey::Rsa {
                n: b64(&p.n)?,
                e: b64(&p.e)?,
            },
        ),
        AlgorithmParameters::EllipticCurve(p) => {
            let (alg, size) = match p.curve {
                EllipticCurve::P256 => (ES256, 32),
                EllipticCurve::P384 => (ES384, 48),
                _ => return None,
            };
            let (x, y) = (b64(&p.x)?, b64(&p.y)?);
            if x.len() != size || y.len() != size {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (vec![alg], PublicKey::Ec(point))
        }
        // Symmetric (`oct`) keys are secrets, never published; OKP and others: not taken.
        _ => return None,
    };
    let algs = match jwk.common.key_algorithm {
        None => family,
        Some(named) => {
            let alg = key_alg(named)?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    Some(VerifyKey { key, algs })
}

fn key_alg(a: KeyAlgorithm) -> Option<Algorithm> {
    use Algorithm::*;
    Some(match a {
        KeyAlgorithm::RS256 => RS256,
        KeyAlgorithm::RS384 => RS384,
        KeyAlgorithm::RS512 => RS512,
        KeyAlgorithm::PS256 => PS256,
        KeyAlgorithm::PS384 => PS384,
        KeyAlgorithm::PS512 => PS512,
        KeyAlgorithm::ES256 => ES256,
        KeyAlgorithm::ES384 => ES384,
        _ => return None,
    })
}

/// The `max-age` of a `Cache-Control` value, within the background refresh's bounds.
pub(crate) fn refresh_period(cache_control: Option<&str>) -> Duration {
    let max_age = cache_control.and_then(|v| {
        v.split(',').find_map(|d| {
            let (name, value) = d.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
        })
    });
    match max_age {
        Some(s) => Duration::from_secs(s).clamp(MIN_PERIOD, MAX_PERIOD),
        None => DEFAULT_PERIOD,
    }
}

/// Whether a `jwks_uri` is acceptable: `https://`, or `http://` to a loopback address. The
/// error says why not (the configuration names the key).
pub fn check_jwks_uri(uri: &str) -> Result<Uri, String> {
    let parsed: Uri = uri
        .parse()
        .map_err(|e| format!("{uri:?} is not a URL: {e}"))?;
    let host = parsed
        .host()
        .ok_or_else(|| format!("{uri:?} has no host"))?;
    match parsed.scheme_str() {
        Some("https") => Ok(parsed),
        Some("http") => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(parsed)
            } else {
                Err(format!(
                    "{uri:?}: plain http:// is allowed only to a loopback address; use https://"
                ))
            }
        }
        _ => Err(format!("{uri:?} must be an https:// URL")),
    }
}

/// One issuer's keys and their fetching (see the module doc).
pub(crate) struct IssuerKeys {
    pub issuer: String,
    pub audience: String,
    uri: Uri,
    keys: ArcSwap<KeySet>,
    /// Single-flight: held for the length of a fetch; the last fetch on demand.
    demand: Mutex<Option<Instant>>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl IssuerKeys {
    /// No keys until [`IssuerKeys::run`] or a call's unknown `kid` fetches them.
    pub fn new(
        issuer: &str,
        audience: &str,
        uri: Uri,
        tls: Arc<rustls::ClientConfig>,
    ) -> IssuerKeys {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        IssuerKeys {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            uri,
            keys: ArcSwap::from_pointee(KeySet::default()),
            demand: Mutex::new(None),
            client,
        }
    }

    /// Replaces the keys held (tests).
    #[cfg(test)]
    pub fn set_keys(&self, set: KeySet) {
        self.keys.store(Arc::new(set));
    }

    /// The keys held now.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// The keys after a refresh for an unknown `kid` — or the keys held, when another call
    /// just fetched them or the last fetch on demand is less than [`DEMAND_INTERVAL`] ago.
    pub async fn refresh_for(&self, kid: Option<&str>) -> Arc<KeySet> {
        let mut last = self.demand.lock().await;
        let held = self.keys();
        // Fetched by the call this one waited for (or the background task).
        if held.knows(kid) {
            return held;
        }
        if last.is_some_and(|t| t.elapsed() < DEMAND_INTERVAL) {
            return held;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok((set, _)) => {
                let set = Arc::new(set);
                self.keys.store(set.clone());
                set
            }
            Err(e) => {
                warn!(issuer = %self.issuer, error = %e, "JWKS refresh for an unknown kid failed; the keys held stay in use");
                held
            }
        }
    }

    /// Fetches at start, then every period, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let next = {
                // Not while a fetch on demand is under way (one fetch at a time).
                let _flight = self.demand.lock().await;
                match self.fetch().await {
                    Ok((set, period)) => {
                        debug!(issuer = %self.issuer, keys = set.len(), "JWKS fetched");
                        self.keys.store(Arc::new(set));
                        period
                    }
                    Err(e) => {
                        warn!(issuer = %self.issuer, error = %e, "JWKS fetch failed; the keys held stay in use");
                        RETRY_AFTER_FAILURE
                    }
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One GET of the JWKS, bounded in time and size.
    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let exchange = async {
            let req = http::Request::get(self.uri.clone())
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, "gatewatch-gateway")
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            if resp.status() != http::StatusCode::OK {
                return Err(format!("{} answered {}", self.uri, resp.status()));
            }
            let period = refresh_period(
                resp.headers()
                    .get(header::CACHE_CONTROL)
                    .and_then(|v| v.to_str().ok()),
            );
            let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the JWKS: {e}"))?
                .to_bytes();
            Ok((KeySet::parse(&body)?, period))
        };
        tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{} did not answer within {FETCH_TIMEOUT:?}", self.uri))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWKS server on loopback answering `body` after `delay`, counting its requests.
    async fn jwks_server(
        body: String,
        delay: Duration,
    ) -> (Uri, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let (h, body) = (h.clone(), body.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                });
            }
        });
        let uri = format!("http://{addr}/jwks").parse().unwrap();
        (uri, hits)
    }

    fn issuer_at(uri: Uri) -> Arc<IssuerKeys> {
        let tls = crate::upstream::tls::SiteTrust::default()
            .client_config()
            .unwrap();
        Arc::new(IssuerKeys::new("https://idp.example", "api", uri, tls))
    }

    #[tokio::test]
    async fn unknown_kids_cause_one_fetch_at_a_time_and_one_per_interval() {
        use std::sync::atomic::Ordering;
        let body = format!(r#"{{"keys":[{EC_JWK}]}}"#);
        let (uri, hits) = jwks_server(body, Duration::from_millis(200)).await;
        let keys = issuer_at(uri);
        // Twenty calls meet unknown kids together: one fetch, all see its keys.
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let k = keys.clone();
                tokio::spawn(async move { k.refresh_for(Some(&format!("made-up-{i}"))).await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().len(), 1);
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // More made-up kids within the interval: no fetch.
        for i in 0..50 {
            keys.refresh_for(Some(&format!("again-{i}"))).await;
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(keys.keys().knows(Some("ec1")));
    }

    #[tokio::test]
    async fn a_failed_fetch_keeps_the_keys_held() {
        // Nothing listens there (a port just freed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let keys = issuer_at(format!("http://127.0.0.1:{port}/jwks").parse().unwrap());
        keys.set_keys(KeySet::parse(format!(r#"{{"keys":[{EC_JWK}]}}"#).as_bytes()).unwrap());
        let after = keys.refresh_for(Some("new")).await;
        assert!(after.knows(Some("ec1")));
        assert!(keys.keys().knows(Some("ec1")));
    }

    #[tokio::test]
    async fn an_oversized_or_bad_jwks_is_refused() {
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        let (uri, _) = jwks_server(huge, Duration::ZERO).await;
        assert!(issuer_at(uri).fetch().await.is_err());
        let (uri, _) = jwks_server("{}".into(), Duration::ZERO).await;
        assert!(issuer_at(uri).fetch().await.is_err());
    }

    #[test]
    fn max_age_is_bounded() {
        assert_eq!(refresh_period(None), DEFAULT_PERIOD);
        assert_eq!(
            refresh_period(Some("public, max-age=600")),
            Duration::from_secs(600)
        );
        assert_eq!(refresh_period(Some("max-age=1")), MIN_PERIOD);
        assert_eq!(refresh_period(Some("max-age=99999999")), MAX_PERIOD);
        assert_eq!(refresh_period(Some("no-store")), DEFAULT_PERIOD);
        assert_eq!(refresh_period(Some("max-age=-5")), DEFAULT_PERIOD);
    }

    #[test]
    fn jwks_uri_is_https_or_loopback_http() {
        assert!(check_jwks_uri("https://idp.example/jwks").is_ok());
        assert!(check_jwks_uri("http://127.0.0.1:9000/jwks").is_ok());
        assert!(check_jwks_uri("http://[::1]:9000/jwks").is_ok());
        assert!(check_jwks_uri("http://localhost/jwks").is_ok());
        for bad in [
            "http://idp.example/jwks",
            "http://10.0.0.1/jwks",
            "ftp://idp.example/jwks",
            "idp.example/jwks",
            "",
            "https:///jwks",
        ] {
            assert!(check_jwks_uri(bad).is_err(), "{bad}");
        }
    }

    const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn keys_verify_their_own_algorithms_only() {
        let rsa = r#"{"kty":"RSA","kid":"r1","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;
        let oct = r#"{"kty":"oct","kid":"h1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}"#;
        let enc = r#"{"kty":"EC","crv":"P-256","kid":"e1","use":"enc",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let mismatched = r#"{"kty":"EC","crv":"P-256","kid":"m1","alg":"RS256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let doc =
            format!(r#"{{"keys":[{rsa},{EC_JWK},{oct},{enc},{mismatched},{{"kty":"XYZ"}},7]}}"#);
        let set = KeySet::parse(doc.as_bytes()).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.find(Some("r1"), Algorithm::RS256).is_some());
        assert!(
            set.find(Some("r1"), Algorithm::RS512).is_none(),
            "alg named"
        );
        assert!(set.find(Some("r1"), Algorithm::HS256).is_none());
        assert!(set.find(Some("ec1"), Algorithm::ES256).is_some());
        assert!(set.find(Some("ec1"), Algorithm::ES384).is_none());
        assert!(set.find(Some("ec1"), Algorithm::HS256).is_none());
        for skipped in ["h1", "e1", "m1", "nope"] {
            assert!(!set.knows(Some(skipped)), "{skipped}");
        }
        // No kid: only when the set has one key.
        assert!(set.find(None, Algorithm::ES256).is_none());
        let one = KeySet::parse(format!(r#"{{"keys":[{EC_JWK}]}}"#).as_bytes()).unwrap();
        assert!(one.find(None, Algorithm::ES256).is_some());
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"not json").is_err());
    }

    #[test]
    fn at_most_max_keys_are_kept() {
        let keys: Vec<String> = (0..MAX_KEYS + 10)
            .map(|i| EC_JWK.replace("\"ec1\"", &format!("\"k{i}\"")))
            .collect();
        let set = KeySet::parse(format!(r#"{{"keys":[{}]}}"#, keys.join(",")).as_bytes()).unwrap();
        assert_eq!(set.len(), MAX_KEYS);
        assert!(!set.knows(Some(&format!("k{}", MAX_KEYS + 1))));
    }
}
