//! The version of a call to an API family (see [`crate::route::version`] and
//! `gatewatch_model::version` for the order), in two steps:
//!
//! - 1c, in the early filter ([`choose`]), once the lookup found a family: the version the call
//!   names — its path segment (taken out of the routed and forwarded path, before
//!   `strip_prefix`), the header, the query parameter (taken out of the forwarded query) — or
//!   the default. A version the family lacks → `404 unknown_version`; one named twice or
//!   oddly → `400 bad_version`; a retired one → `410 retired`; a method that version does not
//!   take → 405. The call's route becomes that version's.
//! - 2b, after authenticate ([`canary`]): a call that named no version may go to the canary
//!   version, by its client's sticky bucket (`canary_bucket(client id)`). It was
//!   authenticated with the default version's methods — the router keeps a canary only when
//!   both versions take the same `auth` — and is then authorized for the canary's API: a
//!   client without a grant for it stays on the default. A public API's callers have no
//!   client: they are split in 1c already, by address.

use std::sync::Arc;

use gatewatch_model::Outcome;
use http::header;
use http::{HeaderMap, Method, StatusCode};

use super::{Answer, Ctx, Decision, Failure};
use crate::access::table::AccessTable;
use crate::route::version::{takes_canary, Choice, Family, Refused, Via};
use crate::route::Route;

/// A canary split still to decide once the client is known: the canary's route and share.
pub(crate) struct PendingCanary {
    pub route: Arc<Route>,
    pub percent: f64,
}

/// Step 1c: the version `family` serves this call; `named` is the version segment of the path
/// and the path without it, when the path names one.
pub(crate) fn choose(
    family: &Family,
    named: Option<(String, String)>,
    method: &Method,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Decision<Arc<Route>> {
    let chosen = match named {
        Some((seg, rest)) => family.by_path(&seg).map(|c| (c, Some(rest))),
        None => family
            .by_request(headers, ctx.uri.query())
            .map(|c| (c, None)),
    };
    let (
        Choice {
            version,
            via,
            query,
        },
        rest,
    ) = chosen.map_err(|r| refused(family, r))?;
    let Some((name, route)) = family.versions.get(version) else {
        return Err(Answer::failure(Failure::NoRoute, "no such version".into()));
    };
    if rest.is_some() {
        ctx.path = rest;
    }
    if query.is_some() {
        ctx.query = query;
    }
    ctx.set_route(route.clone());
    if route.spec.retired {
        return Err(Answer::new(
            StatusCode::GONE,
            Outcome::NoRoute,
            "retired",
            format!("version '{name}' of this API is retired"),
        ));
    }
    let preflight = *method == Method::OPTIONS && route.policies.cors.is_some();
    if !route.allows(method) && !preflight {
        let allow = route.allow_header();
        let message = format!(
            "{method} is not allowed on version '{name}' (allowed: {})",
            allow.to_str().unwrap_or("")
        );
        return Err(Answer::failure(Failure::WrongMethod, message).header(header::ALLOW, allow));
    }
    let Some((canary, percent)) = family.canary_route().filter(|_| via == Via::Default) else {
        return Ok(route.clone());
    };
    if !route.spec.auth.is_empty() {
        ctx.canary = Some(PendingCanary {
            route: canary.clone(),
            percent,
        });
        return Ok(route.clone());
    }
    // A public API: nobody authenticates, the caller's address is its sticky key.
    if takes_canary(&ctx.peer.addr.ip().to_string(), percent) {
        ctx.set_route(canary.clone());
        return Ok(canary.clone());
    }
    Ok(route.clone())
}

fn refused(family: &Family, r: Refused) -> Answer {
    match r {
        Refused::Unknown { name, via } => {
            let how = match via {
                Via::Path => "the path",
                Via::Header => "the header",
                Via::Query => "the query",
                Via::Default => "the call",
            };
            Answer::new(
                StatusCode::NOT_FOUND,
                Outcome::NoRoute,
                "unknown_version",
                format!(
                    "API family '{}' has no version '{name}' (named by {how})",
                    family.id
                ),
            )
        }
        Refused::NoDefault => Answer::new(
            StatusCode::NOT_FOUND,
            Outcome::NoRoute,
            "unknown_version",
            format!(
                "API family '{}' has no default version in service: name one",
                family.id
            ),
        ),
        Refused::Bad(m) => Answer::new(
            StatusCode::BAD_REQUEST,
            Outcome::RefusedBadRequest,
            "bad_version",
            m,
        ),
    }
}

/// Step 2b: moves an authenticated call that named no version to the canary version when its
/// client's bucket says so (and the client may call that API); returns the new route.
pub(crate) fn canary(
    table: &AccessTable,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Option<Arc<Route>> {
    let pending = ctx.canary.take()?;
    let takes = match &ctx.client {
        Some(client) => {
            takes_canary(&client.id, pending.percent)
                && table
                    .grant(client, ctx.key.as_deref(), &pending.route.api_id)
                    .is_ok()
        }
        // Not reached: an API with `auth` has a client once authenticated.
        None => takes_canary(&ctx.peer.addr.ip().to_string(), pending.percent),
    };
    if !takes {
        return None;
    }
    ctx.set_route(pending.route.clone());
    ctx.capture_request_headers(headers);
    Some(pending.route)
}
