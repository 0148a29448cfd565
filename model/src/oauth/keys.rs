//! The authorization server's signing keys: made here (ES256: ECDSA on P-256 with SHA-256),
//! published as JWKs (RFC 7517, RFC 7518 §6.2), their private part (PKCS#8) sealed under the
//! site pepper ([`crate::sealed`]) for the `oauth_keys` table; and the compact JWS (RFC 7515)
//! an access token is, signed and checked.
//!
//! RS256 is not offered: generating RSA keys needs a big-integer crate the tree does not
//! build optimised (seconds per key in debug builds); `signing_alg` accepts `ES256` only.
//!
//! A key's id (`kid`) is its RFC 7638 thumbprint: the same public key always has the same id.
//! No I/O but the OS's random numbers (ring's `SystemRandom`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::sealed::SealKey;

/// The one signing algorithm offered.
pub const ES256: &str = "ES256";
/// The algorithms `signing_alg` accepts.
pub const SIGNING_ALGS: &[&str] = &[ES256];
/// The `typ` of an access token's header (RFC 9068 §2.1).
pub const TOKEN_TYP: &str = "at+jwt";
/// A gateway may sign with a retired key until its next poll of the keys (about a second):
/// a retired key stays published this long past its last token's expiry.
pub const RETIRE_MARGIN_US: i64 = 60_000_000;
/// Longest token the gateway reads: a token of its own is about 500 bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a key cannot be made, opened or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("signing algorithm {0:?} is not supported: only ES256")]
    Unsupported(String),
    #[error("the system's random number generator failed")]
    Random,
    #[error("the private key of {0} does not open with this site's pepper (another site's pepper, or altered)")]
    Sealed(String),
    #[error("key {kid}: {why}")]
    Invalid { kid: String, why: String },
}

/// A key just made: its id, algorithm, public JWK (JSON text) and private PKCS#8 DER.
pub struct NewKey {
    pub kid: String,
    pub alg: &'static str,
    pub public_jwk: String,
    pub pkcs8: Vec<u8>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_jwk", &self.public_jwk)
            .finish_non_exhaustive()
    }
}

/// Makes a signing key for `alg` (`ES256`).
pub fn generate(alg: &str) -> Result<NewKey, KeyError> {
    if alg != ES256 {
        return Err(KeyError::Unsupported(alg.to_string()));
    }
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| KeyError::Random)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| KeyError::Random)?;
    let (kid, public_jwk) = es256_jwk(pair.public_key().as_ref())?;
    Ok(NewKey {
        kid,
        alg: ES256,
        public_jwk,
        pkcs8: pkcs8.as_ref().to_vec(),
    })
}

/// The kid (RFC 7638 thumbprint) and the JWK of an uncompressed P-256 point (`04 ‖ x ‖ y`).
fn es256_jwk(point: &[u8]) -> Result<(String, String), KeyError> {
    if point.len() != 65 || point[0] != 4 {
        return Err(KeyError::Invalid {
            kid: String::new(),
            why: "not an uncompressed P-256 point".into(),
        });
    }
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
    // RFC 7638 §3.2: the required members, in lexicographic order, no spaces.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = B64.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "x": x, "y": y,
        "use": "sig", "alg": ES256, "kid": kid,
    });
    Ok((kid, jwk.to_string()))
}

fn seal_context(kid: &str) -> String {
    format!("gatewatch oauth signing key {kid}")
}

/// The private key sealed under the site's key, bound to its `kid` (a sealed key copied to
/// another row does not open).
pub fn seal_private(seal: &SealKey, kid: &str, pkcs8: &[u8]) -> Result<String, KeyError> {
    let mut nonce = [0u8; 24];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Random)?;
    Ok(seal.seal(&seal_context(kid), &B64.encode(pkcs8), nonce))
}

/// The PKCS#8 DER that [`seal_private`] sealed for `kid`.
pub fn open_private(seal: &SealKey, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
    let b64 = seal
        .open(&seal_context(kid), sealed)
        .map_err(|_| KeyError::Sealed(kid.to_string()))?;
    B64.decode(b64)
        .map_err(|_| KeyError::Sealed(kid.to_string()))
}

/// Where a key is in its life, by its row's dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (the newest active key does).
    Active,
    /// Signs no more; published until its last token expires.
    Retired,
    /// Past `keep_until`: published no more.
    Expired,
}

impl KeyState {
    pub fn of(retired_us: i64, keep_until_us: i64, now_us: i64) -> KeyState {
        if retired_us == 0 {
            KeyState::Active
        } else if now_us < keep_until_us {
            KeyState::Retired
        } else {
            KeyState::Expired
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// `{"keys":[…]}` of the given JWKs (JSON texts); a text that is not JSON is left out.
pub fn jwks<'a>(jwks: impl IntoIterator<Item = &'a str>) -> String {
    let keys: Vec<serde_json::Value> = jwks
        .into_iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// A private key ready to sign.
pub struct Signer {
    kid: String,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    pub fn new(kid: &str, alg: &str, pkcs8: &[u8]) -> Result<Signer, KeyError> {
        if alg != ES256 {
            return Err(KeyError::Unsupported(alg.to_string()));
        }
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| KeyError::Invalid {
                kid: kid.to_string(),
                why: format!("not a P-256 PKCS#8 key: {e}"),
            })?;
        Ok(Signer {
            kid: kid.to_string(),
            pair,
            rng,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `claims` as a compact JWS: header `{"alg":"ES256","typ":"at+jwt","kid":…}`.
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String, KeyError> {
        let header = serde_json::json!({ "alg": ES256, "typ": TOKEN_TYP, "kid": self.kid });
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Invalid {
            kid: self.kid.clone(),
            why: e.to_string(),
        })?;
        let mut out = B64.encode(header.to_string());
        out.push('.');
        B64.encode_string(claims, &mut out);
        let sig = self
            .pair
            .sign(&self.rng, out.as_bytes())
            .map_err(|_| KeyError::Random)?;
        out.push('.');
        B64.encode_string(sig.as_ref(), &mut out);
        Ok(out)
    }
}

/// A published key, ready to check signatures.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub kid: String,
    pub alg: &'static str,
    point: Vec<u8>,
}

#[derive(Deserialize)]
struct EcJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

impl Verifier {
    /// The key of an ES256 JWK as [`generate`] publishes it.
    pub fn from_jwk(kid: &str, alg: &str, jwk: &str) -> Result<Verifier, KeyError> {
        let bad = |why: String| KeyError::Invalid {
            kid: kid.to_string(),
            why,
        };
        if alg != ES256 {
            return Err(KeyError::Unsupported(alg.to_string()));
        }
        let j: EcJwk = serde_json::from_str(jwk).map_err(|e| bad(format!("JWK: {e}")))?;
        if j.kty != "EC" || j.crv != "P-256" {
            return Err(bad("not an EC P-256 JWK".into()));
        }
        let mut point = vec![4u8];
        for c in [&j.x, &j.y] {
            let b = B64
                .decode(c)
                .map_err(|_| bad("x/y are not base64url".into()))?;
            if b.len() != 32 {
                return Err(bad("x/y are not 32 bytes".into()));
            }
            point.extend_from_slice(&b);
        }
        Ok(Verifier {
            kid: kid.to_string(),
            alg: ES256,
            point,
        })
    }

    /// Whether `sig` signs `input` (the JWS's `header.payload`).
    pub fn verifies(&self, input: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(input, sig)
            .is_ok()
    }
}

/// Most keys a client registers for `private_key_jwt`.
pub const MAX_CLIENT_KEYS: usize = 8;

/// The keys of a client's `jwks` (`{"keys":[…]}`: EC P-256 JWKs with a `kid` each, no private
/// part, no kid twice), ready to check its assertions. The error names the item
/// (`jwks.keys[1].kid`).
pub fn client_keys(jwks: &serde_json::Value) -> Result<Vec<Verifier>, crate::FieldError> {
    use crate::FieldError;
    let Some(keys) = jwks.get("keys").and_then(|k| k.as_array()) else {
        return Err(FieldError::new(
            "jwks",
            "must be a JWK Set: {\"keys\": [ … ]}",
        ));
    };
    if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
        return Err(FieldError::new(
            "jwks.keys",
            format!("must list 1 to {MAX_CLIENT_KEYS} keys"),
        ));
    }
    let mut out: Vec<Verifier> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let field = |f: &str| format!("jwks.keys[{i}]{f}");
        let Some(kid) = k
            .get("kid")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
        else {
            return Err(FieldError::new(field(".kid"), "each key needs a kid"));
        };
        if kid.len() > 128 {
            return Err(FieldError::new(field(".kid"), "at most 128 characters"));
        }
        if k.get("d").is_some() {
            return Err(FieldError::new(
                field(".d"),
                "a private key: register the public key only",
            ));
        }
        if k.get("alg").is_some_and(|a| a != ES256) {
            return Err(FieldError::new(
                field(".alg"),
                "only ES256 keys are accepted",
            ));
        }
        let v = Verifier::from_jwk(kid, ES256, &k.to_string())
            .map_err(|e| FieldError::new(field(""), e.to_string()))?;
        if out.iter().any(|o| o.kid == kid) {
            return Err(FieldError::new(
                field(".kid"),
                format!("{kid:?} is listed twice"),
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// The parts of a compact JWS, decoded but not checked.
#[derive(Debug)]
pub struct Jws<'t> {
    pub header: JwsHeader,
    /// `header.payload` as sent: what the signature covers.
    pub signing_input: &'t str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The header members the server looks at; others are ignored. `crit` is refused (RFC 7515
/// §4.1.11: none is understood).
#[derive(Debug, Deserialize)]
pub struct JwsHeader {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// Splits and decodes a compact JWS (three base64url parts). The message says what is wrong.
pub fn decode_jws(token: &str) -> Result<Jws<'_>, &'static str> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err("token too long");
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (three dot-separated parts)");
    };
    let header = B64.decode(h).map_err(|_| "header is not base64url")?;
    let header: JwsHeader = serde_json::from_slice(&header).map_err(|_| "header is not JSON")?;
    if header.crit.is_some() {
        return Err("header lists crit extensions");
    }
    let payload = B64.decode(p).map_err(|_| "payload is not base64url")?;
    let signature = B64.decode(s).map_err(|_| "signature is not base64url")?;
    Ok(Jws {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload,
        signature,
    })
}

/// Whether a header's `typ` names an access token (RFC 9068 §2.1; `application/` may lead,
/// any case, RFC 7515 §4.1.9).
pub fn is_access_token_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        let t = t
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(t, |_| &t[12..]);
        t.eq_ignore_ascii_case(TOKEN_TYP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal() -> SealKey {
        SealKey::from_pepper(b"pepper of the site 0123456789")
    }

    #[test]
    fn a_new_key_signs_and_its_jwk_verifies() {
        let k = generate(ES256).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk).unwrap();
        assert_eq!(jwk["kid"], k.kid.as_str());
        assert_eq!(jwk["alg"], "ES256");
        assert!(jwk.get("d").is_none(), "no private part in the JWK");
        let signer = Signer::new(&k.kid, ES256, &k.pkcs8).unwrap();
        let token = signer.sign(&serde_json::json!({"sub": "c1"})).unwrap();
        let jws = decode_jws(&token).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some(k.kid.as_str()));
        assert!(is_access_token_typ(jws.header.typ.as_deref()));
        let v = Verifier::from_jwk(&k.kid, ES256, &k.public_jwk).unwrap();
        assert!(v.verifies(jws.signing_input.as_bytes(), &jws.signature));
        assert!(!v.verifies(b"other.input", &jws.signature));
        let other = generate(ES256).unwrap();
        assert_ne!(other.kid, k.kid);
        let v2 = Verifier::from_jwk(&other.kid, ES256, &other.public_jwk).unwrap();
        assert!(!v2.verifies(jws.signing_input.as_bytes(), &jws.signature));
    }

    #[test]
    fn the_private_key_opens_only_for_its_kid_and_pepper() {
        let k = generate(ES256).unwrap();
        let sealed = seal_private(&seal(), &k.kid, &k.pkcs8).unwrap();
        assert!(crate::sealed::is_sealed(&sealed));
        assert_eq!(open_private(&seal(), &k.kid, &sealed).unwrap(), k.pkcs8);
        assert!(open_private(&seal(), "other-kid", &sealed).is_err());
        let other = SealKey::from_pepper(b"another pepper 0123456789");
        assert!(open_private(&other, &k.kid, &sealed).is_err());
        assert!(!format!("{k:?}").contains("pkcs8"));
    }

    #[test]
    fn rs256_and_others_are_refused() {
        assert_eq!(
            generate("RS256").unwrap_err(),
            KeyError::Unsupported("RS256".into())
        );
        assert!(generate("HS256").is_err());
        assert!(generate("none").is_err());
    }

    #[test]
    fn kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 has no EC example; recompute from the JWK's members.
        let k = generate(ES256).unwrap();
        let j: serde_json::Value = serde_json::from_str(&k.public_jwk).unwrap();
        let canon = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        assert_eq!(k.kid, B64.encode(Sha256::digest(canon.as_bytes())));
    }

    #[test]
    fn malformed_tokens_are_named() {
        for (t, why) in [
            ("a.b", "not a compact JWS (three dot-separated parts)"),
            ("a.b.c.d", "not a compact JWS (three dot-separated parts)"),
            ("!!.e30.AA", "header is not base64url"),
            ("bm90anNvbg.e30.AA", "header is not JSON"),
        ] {
            assert_eq!(decode_jws(t).unwrap_err(), why, "{t}");
        }
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(decode_jws(&long).unwrap_err(), "token too long");
        let crit = format!("{}.e30.AA", B64.encode(r#"{"alg":"ES256","crit":["exp"]}"#));
        assert_eq!(
            decode_jws(&crit).unwrap_err(),
            "header lists crit extensions"
        );
    }

    #[test]
    fn typ_at_jwt_in_its_spellings() {
        for ok in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            assert!(is_access_token_typ(Some(ok)), "{ok}");
        }
        for bad in [
            None,
            Some("JWT"),
            Some(""),
            Some("application/jwt"),
            Some("é"),
        ] {
            assert!(!is_access_token_typ(bad), "{bad:?}");
        }
    }

    #[test]
    fn key_states_by_date() {
        assert_eq!(KeyState::of(0, 0, 10), KeyState::Active);
        assert_eq!(KeyState::of(5, 20, 10), KeyState::Retired);
        assert_eq!(KeyState::of(5, 20, 20), KeyState::Expired);
    }

    #[test]
    fn client_keys_are_public_p256_keys_with_kids() {
        let k = generate(ES256).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&k.public_jwk).unwrap();
        let good = serde_json::json!({ "keys": [jwk.clone()] });
        assert_eq!(client_keys(&good).unwrap()[0].kid, k.kid);
        let field = |v: serde_json::Value| client_keys(&v).unwrap_err().field;
        assert_eq!(field(serde_json::json!([jwk.clone()])), "jwks");
        assert_eq!(field(serde_json::json!({ "keys": [] })), "jwks.keys");
        let mut no_kid = jwk.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        assert_eq!(
            field(serde_json::json!({ "keys": [no_kid] })),
            "jwks.keys[0].kid"
        );
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        assert_eq!(
            field(serde_json::json!({ "keys": [private] })),
            "jwks.keys[0].d"
        );
        let mut rsa = jwk.clone();
        rsa["kty"] = "RSA".into();
        assert_eq!(field(serde_json::json!({ "keys": [rsa] })), "jwks.keys[0]");
        assert_eq!(
            field(serde_json::json!({ "keys": [jwk.clone(), jwk] })),
            "jwks.keys[1].kid"
        );
    }

    #[test]
    fn jwks_lists_the_keys() {
        let k = generate(ES256).unwrap();
        let s = jwks([k.public_jwk.as_str(), "not json"]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["keys"].as_array().unwrap().len(), 1);
    }
}
