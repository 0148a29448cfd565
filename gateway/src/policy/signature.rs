//! Request signatures (`signature`, RFC 9421; the seeds' SignCode): `hmac-sha256` with the
//! client's signing secret, `ecdsa-p256-sha256` / `ed25519` with a key the client registered;
//! the components the API names must be covered, `created` within `max_age_secs`, a nonce
//! seen before refused, `content-digest` (RFC 9530) checked against the body. 401
//! `bad_signature` (outcome `refused_auth`) with the reason.
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;
use http::request::Parts;

use crate::body::client::ClientBody;
use crate::phase::{Ctx, Stop};

/// Nonces seen within the window.
#[derive(Default)]
pub(crate) struct State {}

#[derive(Debug)]
pub(crate) struct Compiled {}

impl Compiled {
    /// A `content-digest` is checked against the body read whole.
    pub fn needs_body(&self, _head: &Parts) -> bool {
        false
    }
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.signature.as_ref().map(|_| Compiled {})
}

/// Verifies the call's signature.
pub(crate) fn verify(
    _state: &State,
    _sig: &Compiled,
    _head: &Parts,
    _body: &ClientBody,
    _ctx: &mut Ctx,
) -> Result<(), Stop> {
    Ok(())
}
