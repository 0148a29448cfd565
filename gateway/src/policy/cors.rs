//! CORS (`cors`): preflights (`OPTIONS` with `Access-Control-Request-Method`) answered by the
//! gateway before authentication; other calls from an allowed origin get
//! `Access-Control-Allow-Origin` (and the rest) on whatever answer they get, through
//! [`crate::phase::Ctx::answer_headers`].
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;
use http::request::Parts;

use crate::phase::{Ctx, Stop};

#[derive(Debug)]
pub(crate) struct Compiled {}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.cors.as_ref().map(|_| Compiled {})
}

/// Answers a preflight, or notes the headers an allowed origin's answer carries.
pub(crate) fn screen(_cors: &Compiled, _head: &Parts, _ctx: &mut Ctx) -> Result<(), Stop> {
    Ok(())
}
