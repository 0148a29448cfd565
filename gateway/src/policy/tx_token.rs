//! One-time transaction tokens (`tx_token`, the seeds' TxToken): `POST /.gatewatch/tx-token`
//! issues a token bound to the client and the API; one later call must carry it.
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;
use http::request::Parts;

use crate::phase::{Ctx, Stop};

/// Tokens issued and not yet used.
#[derive(Default)]
pub(crate) struct State {}

#[derive(Debug)]
pub(crate) struct Compiled {}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.tx_token.as_ref().map(|_| Compiled {})
}

/// Takes the call's token (used once).
pub(crate) fn take(
    _state: &State,
    _tx: &Compiled,
    _head: &Parts,
    _ctx: &mut Ctx,
) -> Result<(), Stop> {
    Ok(())
}
