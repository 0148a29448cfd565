//! The API's own rate (`rate`): one token bucket for every caller together, per gateway.
//! 429 `rate_limited`, outcome `refused_rate`, with `RateLimit-Policy` / `RateLimit`
//! (IETF httpapi draft) and `Retry-After`.
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;

use crate::phase::{Ctx, Stop};
use crate::route::Route;

/// The buckets, by API id (they outlive router swaps).
#[derive(Default)]
pub(crate) struct State {}

#[derive(Debug)]
pub(crate) struct Compiled {}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.rate.as_ref().map(|_| Compiled {})
}

/// Takes one call from the API's bucket.
pub(crate) fn take(
    _state: &State,
    _rate: &Compiled,
    _route: &Route,
    _ctx: &mut Ctx,
) -> Result<(), Stop> {
    Ok(())
}
