//! Idempotency keys (`idempotency`, the IETF httpapi `Idempotency-Key` header): per client +
//! API + key (API + key on a public API), the first answer kept (status, headers, body up to
//! `max_answer_bytes`) and replayed to repeats within `ttl_secs`; a repeat with another body
//! is 422, one while the first is still running 409. The answer is taken through
//! [`crate::phase::ctx::AnswerTap`].
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;
use http::request::Parts;

use crate::body::client::ClientBody;
use crate::phase::{Ctx, Stop};

/// First answers kept, and keys in flight.
#[derive(Default)]
pub(crate) struct State {}

#[derive(Debug)]
pub(crate) struct Compiled {}

impl Compiled {
    /// A keyed call's body is fingerprinted (a repeat with another body is refused).
    pub fn needs_body(&self, _head: &Parts) -> bool {
        false
    }
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.idempotency.as_ref().map(|_| Compiled {})
}

/// A repeat is answered from the first answer; a first call goes on, its answer tapped.
pub(crate) async fn begin(
    _state: &State,
    _idem: &Compiled,
    _head: &Parts,
    _body: &ClientBody,
    _ctx: &mut Ctx,
) -> Result<(), Stop> {
    Ok(())
}
