//! Deny lists (`ip_deny`): the site's (`[gateway] ip_deny`) and the API's before
//! authentication, the client's after it. 403 `ip_denied`, outcome `refused_ip`.
//!
//! (Stub of the foundation: the lists are not checked yet.)

use gatewatch_model::ApiSpec;

use crate::phase::{Ctx, Stop};
use crate::route::Route;

/// The site-wide list.
#[derive(Default)]
pub(crate) struct State {}

/// The API's list, parsed.
#[derive(Debug)]
pub(crate) struct Compiled {}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    (!spec.ip_deny.is_empty()).then_some(Compiled {})
}

/// The site's and the API's lists, before authentication.
pub(crate) fn screen(_state: &State, _route: &Route, _ctx: &mut Ctx) -> Result<(), Stop> {
    Ok(())
}

/// The client's list, once the client is known.
pub(crate) fn client(_ctx: &mut Ctx) -> Result<(), Stop> {
    Ok(())
}
