//! Phase 5, request policies: checks of the request itself, after the caller is known and
//! counted, before anything goes upstream. The list is empty today; issue 17's policies come
//! here, in this order, each a `fn(&Route, &http::request::Parts, &mut Ctx) -> Decision` (or
//! async when it must read the body):
//!
//! 1. deny lists (paths, methods, addresses);
//! 2. CORS (a preflight answered here);
//! 3. message checks (content type, size, JSON schema);
//! 4. signatures (HMAC of the request);
//! 5. idempotency keys (a repeat answered from its first answer).

use http::request::Parts;

use super::{Ctx, Decision};
use crate::route::Route;

/// Runs the API's request policies in order; the first that answers ends the call.
#[inline]
pub(crate) fn policies(_route: &Route, _head: &Parts, _ctx: &mut Ctx) -> Decision {
    Ok(())
}
