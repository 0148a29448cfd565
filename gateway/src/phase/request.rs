//! Request policies (issue 17, [`crate::policy`]), in three places of the phases:
//!
//! - [`site`], before the early filter: the site's deny list (every path, the gateway's own
//!   endpoints too);
//! - [`screen`], right after routing and before the access phases: the API's deny list, and
//!   CORS (a preflight is answered here: browsers send it without credentials);
//! - [`policies`] (phase 5), after the access phases and before the upstream, in this order:
//!   the client's deny list, the API's rate, the body limit, the body read whole when a
//!   policy must see it, message checks, signatures, transaction tokens, idempotency (last,
//!   so a refused request is never kept as an answer).

use std::time::Duration;

use http::request::Parts;
use http::StatusCode;
use hyper::body::Incoming;

use super::{Answer, Ctx, Stop};
use crate::body::client::{self, ClientBody, ReadError};
use crate::policy::{body_limit, checks, cors, deny, idempotency, rate, signature, tx_token};
use crate::policy::{Policies, POLICY_BODY_MAX};
use crate::route::Route;

/// Before the early filter: the site's deny list.
pub(crate) fn site(state: &Policies, headers: &http::HeaderMap, ctx: &mut Ctx) -> Result<(), Stop> {
    deny::site(&state.deny, headers, ctx)
}

/// Before the access phases: the API's deny list, CORS.
pub(crate) fn screen(
    state: &Policies,
    route: &Route,
    head: &Parts,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    deny::screen(&state.deny, route, &head.headers, ctx)?;
    if let Some(c) = &route.policies.cors {
        cors::screen(c, route, head, ctx)?;
    }
    Ok(())
}

/// Phase 5 (see the module doc); gives the body on as the upstream phase sends it.
pub(crate) async fn policies(
    state: &Policies,
    route: &Route,
    head: &Parts,
    body: Incoming,
    read_timeout: Duration,
    ctx: &mut Ctx,
) -> Result<ClientBody, Stop> {
    let p = &route.policies;
    deny::client(&state.deny, &head.headers, ctx)?;
    if let Some(r) = &p.rate {
        rate::take(&state.rate, r, route, ctx)?;
    }
    let limit = p.max_body();
    let body = if p.needs_body(head) {
        let limit = limit.unwrap_or(POLICY_BODY_MAX);
        match client::read_whole(body, limit, read_timeout).await {
            Ok(data) => ClientBody::Buffered(data),
            Err(e) => return Err(read_failed(e)),
        }
    } else {
        if let Some(max) = limit {
            body_limit::declared(&body, max)?;
        }
        ClientBody::Streamed { body, limit }
    };
    if let Some(c) = &p.checks {
        checks::run(c, head, &body, ctx)?;
    }
    if let Some(s) = &p.signature {
        signature::verify(&state.signature, s, head, &body, ctx)?;
    }
    if let Some(t) = &p.tx_token {
        tx_token::take(&state.tx_token, t, head, ctx)?;
    }
    if let Some(i) = &p.idempotency {
        idempotency::begin(&state.idempotency, i, head, &body, ctx).await?;
    }
    Ok(body)
}

/// A body that could not be read whole: too large (413), malformed (400), or gone.
fn read_failed(e: ReadError) -> Stop {
    let told = e.to_string();
    let (status, outcome, code) = match e {
        ReadError::TooLarge(limit) => return Stop::Refuse(body_limit::too_large(limit)),
        ReadError::Malformed(_) => (
            StatusCode::BAD_REQUEST,
            gatewatch_model::Outcome::RefusedBadRequest,
            "bad_body",
        ),
        ReadError::Gone(_) => (
            StatusCode::from_u16(super::CLIENT_CLOSED_STATUS).unwrap_or(StatusCode::BAD_REQUEST),
            gatewatch_model::Outcome::ClientAborted,
            "client_aborted",
        ),
    };
    Stop::Refuse(Answer::new(status, outcome, code, told))
}
