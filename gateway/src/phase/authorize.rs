//! Phase 3, authorize: may the authenticated client call this API now?
//!
//! 1. the client's bars: suspended, before `valid_from` / after `valid_until`, outside its
//!    service hours (in its zone, or the site's);
//! 2. the caller's address in the client's `ip_allow` (the TCP peer, or, behind one of
//!    `trusted_proxies`, the last untrusted `X-Forwarded-For` entry);
//! 3. the grant: a group of the client lists the API, or an approved product on the key does
//!    (the product goes in the record as `app_id`); for an OAuth 2.0 token on an API that
//!    lists `scopes`, the token carrying all of them is the grant (its issuer granted them from
//!    the client's own scopes and its approved products'), else 403 `insufficient_scope`.
//!
//! Pure: a decision from the access table, the time and the context — no counter moves here
//! (see [`super::limits`]).

use chrono::{DateTime, Utc};
use gatewatch_model::client::ClientBar;
use http::HeaderMap;

use super::Ctx;
use crate::access::bearer;
use crate::access::refusal::{Refusal, Refused};
use crate::access::table::{AccessTable, Grant};
use crate::access::Access;

/// The authorize phase (see the module doc). A call without an authenticated client (a
/// public API) has nothing to check.
pub(crate) fn authorize(
    access: &Access,
    table: &AccessTable,
    now: DateTime<Utc>,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Result<(), Refused> {
    let (Some(client), Some(route)) = (&ctx.client, &ctx.route) else {
        return Ok(());
    };
    if let Some(bar) = client.spec.bar_at(now, access.site_tz) {
        return Err(match bar {
            ClientBar::Suspended => Refusal::ClientSuspended,
            ClientBar::NotYetValid => Refusal::ClientNotYetValid,
            ClientBar::Expired => Refusal::ClientExpired,
            ClientBar::OutsideHours => Refusal::OutsideServiceHours,
        }
        .into());
    }
    let ip = access.client_ip(ctx.peer.addr.ip(), headers);
    if !client.ip_allowed(ip) {
        return Err(Refusal::IpNotAllowed.into());
    }
    let grant = match (&ctx.caller.token, route.spec.scopes.is_empty()) {
        (Some(token), false) => {
            bearer::check_scopes(&route.spec.scopes, token)?;
            Grant::Scopes
        }
        _ => table.grant(client, ctx.key.as_deref(), &route.api_id)?,
    };
    if let (Grant::Product(product_id), Some(_)) = (&grant, &ctx.key) {
        ctx.caller.app_id = Some(product_id.clone());
    }
    ctx.grant = Some(grant);
    Ok(())
}
