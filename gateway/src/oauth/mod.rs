//! The gateway's OAuth 2.0 authorization server (issue 16): signing keys, the token
//! endpoint, metadata, JWKS, introspection and revocation on the proxy's port.
//!
//! - [`OwnIssuer`] (here): the published keys and the revoked tokens; mints access tokens
//!   and verifies them — the `oauth2` auth method verifies the gateway's own tokens through it;
//! - [`server`]: the five endpoints, answered before routing (see [`endpoint`]);
//! - [`form`]: the request body (bounded, `application/x-www-form-urlencoded`, no repeated
//!   parameter) and the client's credentials (`client_secret_basic`, `client_secret_post`,
//!   `private_key_jwt`); [`assertion`]: the checks of a `private_key_jwt` assertion;
//! - [`sync`]: keys and revocations followed from the store, about once a second.
//!
//! Tokens are RFC 9068 JWTs: header `{"alg":"ES256","typ":"at+jwt","kid"}`, claims exactly
//! [`AccessTokenClaims`]. Keys are made, sealed and published by
//! [`gatewatch_model::oauth::keys`]; `gatewatch keys rotate` retires the signing key (it stays
//! published until its last token expires).

pub(crate) mod assertion;
pub(crate) mod form;
pub(crate) mod server;
pub(crate) mod sync;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use gatewatch_model::oauth::keys::{self, Signer, Verifier};
use gatewatch_model::oauth::AccessTokenClaims;

pub(crate) use server::Server;

/// Seconds of clock difference forgiven on `exp` and `iat`.
pub(crate) const LEEWAY_S: i64 = 30;

/// What a verified access token says, as the access phase and the record use it.
#[allow(dead_code)] // read by the `oauth2` auth method (the access phase)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The `iss` the token was verified for.
    pub issuer: Arc<str>,
    /// The gatewatch client the token was issued to (`client_id`).
    pub client_id: Arc<str>,
    /// The token's `jti`.
    pub jti: Arc<str>,
    /// The token's `scope` claim: scopes separated by one space.
    pub scopes: Arc<str>,
}

/// The keys in use: the one that signs (the newest active key) and every published one.
#[derive(Default)]
pub(crate) struct KeySet {
    pub signer: Option<Arc<Signer>>,
    pub verifiers: HashMap<String, Verifier>,
    /// `{"keys":[…]}`, as `/oauth2/jwks` answers it.
    pub jwks: bytes::Bytes,
}

impl KeySet {
    /// The kids, sorted, and the signer's: what decides whether a new set differs.
    pub fn fingerprint(&self) -> (Vec<&str>, Option<&str>) {
        let mut kids: Vec<&str> = self.verifiers.keys().map(String::as_str).collect();
        kids.sort_unstable();
        (kids, self.signer.as_deref().map(Signer::kid))
    }
}

struct Inner {
    issuer: Arc<str>,
    audience: String,
    keys: ArcSwap<KeySet>,
    /// Revoked `jti` → the token's `exp` (µs): dropped once past it.
    revoked: RwLock<HashMap<Box<str>, i64>>,
}

/// Verifies the access tokens this gateway's authorization server issued: signed by a key in
/// its JWKS, `iss` and `aud` its own, within `exp`, not revoked. Cheap to clone: one per
/// gateway, shared by the access phase and the endpoints.
#[derive(Clone)]
pub(crate) struct OwnIssuer {
    inner: Arc<Inner>,
}

impl OwnIssuer {
    /// An issuer without keys yet (it verifies nothing until [`OwnIssuer::set_keys`]).
    pub fn new(issuer: &str, audience: &str) -> OwnIssuer {
        OwnIssuer {
            inner: Arc::new(Inner {
                issuer: Arc::from(issuer),
                audience: audience.to_string(),
                keys: ArcSwap::from_pointee(KeySet::default()),
                revoked: RwLock::default(),
            }),
        }
    }

    /// An issuer with a fresh ES256 key kept in memory only (a gateway without a store, and
    /// tests).
    pub fn ephemeral(issuer: &str, audience: &str) -> Result<OwnIssuer, keys::KeyError> {
        let own = OwnIssuer::new(issuer, audience);
        let k = keys::generate(keys::ES256)?;
        let signer = Signer::new(&k.kid, k.alg, &k.pkcs8)?;
        let verifier = Verifier::from_jwk(&k.kid, k.alg, &k.public_jwk)?;
        own.set_keys(KeySet {
            signer: Some(Arc::new(signer)),
            jwks: keys::jwks([k.public_jwk.as_str()]).into(),
            verifiers: HashMap::from([(k.kid, verifier)]),
        });
        Ok(own)
    }

    /// The `iss` of the tokens it issues.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `aud` of the tokens it issues.
    #[allow(dead_code)] // for the `oauth2` auth method's refusals
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    pub fn keys(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.inner.keys.load()
    }

    pub fn set_keys(&self, keys: KeySet) {
        self.inner.keys.store(Arc::new(keys));
    }

    /// Marks a token revoked until its `exp` (`expires_us`).
    pub fn revoke(&self, jti: &str, expires_us: i64) {
        if let Ok(mut r) = self.inner.revoked.write() {
            r.insert(Box::from(jti), expires_us);
        }
    }

    /// Forgets revocations of tokens expired by `now_us`.
    pub fn prune_revoked(&self, now_us: i64) {
        if let Ok(mut r) = self.inner.revoked.write() {
            r.retain(|_, exp| *exp > now_us);
        }
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.inner
            .revoked
            .read()
            .map(|r| r.contains_key(jti))
            .unwrap_or(true)
    }

    /// A new access token for `client_id` with `scope` (space-separated), valid `ttl_s`
    /// seconds from `now_s`: the token and its claims.
    pub fn issue(
        &self,
        client_id: &str,
        scope: &str,
        ttl_s: i64,
        now_s: i64,
    ) -> Result<(String, AccessTokenClaims), String> {
        let keys = self.keys();
        let Some(signer) = keys.signer.as_ref() else {
            return Err("the gateway has no signing key yet".into());
        };
        let claims = AccessTokenClaims {
            iss: self.inner.issuer.to_string(),
            sub: client_id.to_string(),
            aud: self.inner.audience.clone(),
            exp: now_s.saturating_add(ttl_s),
            iat: now_s,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
        };
        let token = signer.sign(&claims).map_err(|e| e.to_string())?;
        Ok((token, claims))
    }

    /// The token's claims, or why it is refused (for the record; the client is told
    /// `invalid_token` only). `now_s`: Unix seconds.
    #[allow(dead_code)] // called by the `oauth2` auth method (the access phase)
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Verified, String> {
        let c = self.claims(token, now_s, Check::Full)?;
        Ok(Verified {
            issuer: self.inner.issuer.clone(),
            client_id: Arc::from(c.client_id),
            jti: Arc::from(c.jti),
            scopes: Arc::from(c.scope),
        })
    }

    /// The claims of a token signed by a published key for this issuer and audience; with
    /// [`Check::Full`] also within `exp` and not revoked.
    pub fn claims(
        &self,
        token: &str,
        now_s: i64,
        check: Check,
    ) -> Result<AccessTokenClaims, String> {
        let jws = keys::decode_jws(token)?;
        let h = &jws.header;
        if !keys::is_access_token_typ(h.typ.as_deref()) {
            return Err(format!("header typ {:?} is not at+jwt", h.typ));
        }
        let Some(kid) = h.kid.as_deref() else {
            return Err("header has no kid".into());
        };
        let set = self.keys();
        let Some(key) = set.verifiers.get(kid) else {
            return Err(format!("kid {kid:?} is not a published key"));
        };
        // The algorithm is the key's, never the token's choice (no `none`, no HS256 keyed
        // with the public key).
        if h.alg != key.alg {
            return Err(format!("alg {:?} is not the key's ({})", h.alg, key.alg));
        }
        if !key.verifies(jws.signing_input.as_bytes(), &jws.signature) {
            return Err("bad signature".into());
        }
        let c: AccessTokenClaims = serde_json::from_slice(&jws.payload)
            .map_err(|e| format!("claims do not parse: {e}"))?;
        if *c.iss != *self.inner.issuer {
            return Err(format!("iss {:?} is not this issuer", c.iss));
        }
        if c.aud != self.inner.audience {
            return Err(format!("aud {:?} is not this audience", c.aud));
        }
        if c.sub != c.client_id {
            return Err("sub and client_id differ".into());
        }
        if check == Check::Full {
            if c.exp.saturating_add(LEEWAY_S) <= now_s {
                return Err(format!("expired at {}", c.exp));
            }
            if c.iat > now_s.saturating_add(LEEWAY_S) {
                return Err(format!("issued in the future ({})", c.iat));
            }
            if self.is_revoked(&c.jti) {
                return Err(format!("token {} is revoked", c.jti));
            }
        }
        Ok(c)
    }
}

/// How much [`OwnIssuer::claims`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Signature, issuer, audience, expiry, revocation: a token that may be used.
    Full,
    /// Signature, issuer and audience only: a token the server issued (revocation asks).
    Issued,
}

#[cfg(test)]
mod tests;
