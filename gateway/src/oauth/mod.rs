//! The gateway's OAuth 2.0 authorization server (issue 16): signing keys, the token
//! endpoint, metadata, JWKS, introspection and revocation on the proxy's port.
//!
//! Foundation stub: [`OwnIssuer`] is the interface the `oauth2` auth method verifies the
//! gateway's own tokens through; the server fills it in.

use std::sync::Arc;

/// What a verified access token says, as the access phase and the record use it.
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

/// Verifies the access tokens this gateway's authorization server issued: signed by a key in
/// its JWKS, `iss` and `aud` its own, within `exp`, not revoked.
pub(crate) struct OwnIssuer {
    issuer: Arc<str>,
}

impl OwnIssuer {
    pub fn new(issuer: &str) -> OwnIssuer {
        OwnIssuer {
            issuer: Arc::from(issuer),
        }
    }

    /// The `iss` of the tokens it issues.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The token's claims, or why it is refused (for the record; the client is told
    /// `invalid_token` only). `now_s`: Unix seconds.
    pub fn verify(&self, _token: &str, _now_s: i64) -> Result<Verified, String> {
        Err("the gateway has no signing keys yet".into())
    }
}
