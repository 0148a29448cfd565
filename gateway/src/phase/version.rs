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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phase::filter::{filter, Filtered};
    use crate::route::{Api, Router};
    use crate::upstream::Clients;
    use gatewatch_model::version::{ApiFamilySpec, Deprecation};
    use gatewatch_model::ApiSpec;
    use http::header::{HeaderName, HeaderValue};
    use std::time::Duration;

    fn api(id: &str, version: &str, f: &Arc<ApiFamilySpec>, edit: impl Fn(&mut ApiSpec)) -> Api {
        let mut spec = ApiSpec::prefixed(id, "/orders", &["http://127.0.0.1:9000"]);
        spec.family = "orders".into();
        spec.version = version.into();
        spec.strip_prefix = true;
        edit(&mut spec);
        Api {
            id: id.into(),
            spec: Arc::new(spec),
            origin: String::new(),
            family: Some(f.clone()),
        }
    }

    /// `orders`: v1 (GET only, the default), v2 (deprecated; the canary at `canary` %), v0
    /// (retired); the query parameter `version` read too.
    fn orders(canary: f64) -> Router {
        let f: ApiFamilySpec = serde_json::from_value(serde_json::json!({"name": "O",
            "default_version": "v1", "select": {"query": "version"},
            "canary": {"version": "v2", "percent": canary}}))
        .unwrap();
        let f = Arc::new(f);
        let deprecated = Deprecation {
            since: "2026-07-01T00:00:00Z".into(),
            sunset: None,
            link: None,
        };
        let (r, refused) = Router::build(
            vec![
                api("o1", "v1", &f, |s| s.methods = vec!["GET".into()]),
                api("o2", "v2", &f, |s| {
                    s.deprecation = Some(Box::new(deprecated.clone()))
                }),
                api("o0", "v0", &f, |s| s.retired = true),
            ],
            &Clients::new(Duration::from_secs(1)),
            None,
        );
        assert!(refused.is_empty(), "{refused:?}");
        r
    }

    fn call(
        r: &Router,
        method: &Method,
        target: &str,
        headers: &[(&'static str, &'static str)],
    ) -> (Result<String, (u16, &'static str)>, Ctx) {
        let mut ctx = Ctx::for_tests("10.0.0.1");
        ctx.uri = target.parse().unwrap();
        ctx.method = method.clone();
        let mut h = HeaderMap::new();
        for (n, v) in headers {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let out = match filter(r, None, method, &h, &mut ctx) {
            Ok(Filtered::Routed(route)) => Ok(route.api_id.clone()),
            Ok(Filtered::Local(_)) => Ok("local".into()),
            Err(a) => Err((a.status.as_u16(), a.code)),
        };
        (out, ctx)
    }

    /// The target the upstream gets.
    fn forwarded(ctx: &Ctx) -> String {
        let r = ctx.route.as_ref().unwrap();
        r.upstream_uri(ctx.path.as_deref(), ctx.query.as_deref(), &ctx.uri)
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_filter_picks_the_version_and_rewrites_the_path_and_query() {
        let r = orders(0.0);
        let get = &Method::GET;
        // The version segment goes, then `strip_prefix` takes `/orders`.
        let (d, c) = call(&r, get, "/orders/v2/items?a=1", &[]);
        assert_eq!((d, forwarded(&c)), (Ok("o2".into()), "/items?a=1".into()));
        let (d, c) = call(&r, get, "/orders/items?version=v2&a=1", &[]);
        assert_eq!((d, forwarded(&c)), (Ok("o2".into()), "/items?a=1".into()));
        let (_, c) = call(&r, get, "/orders/items?version=v2", &[]);
        assert_eq!(forwarded(&c), "/items");
        let (d, c) = call(&r, get, "/orders/items", &[("accept-version", "v2")]);
        assert_eq!((d, forwarded(&c)), (Ok("o2".into()), "/items".into()));
        // The default; the canary at 0 % takes nobody.
        let (d, c) = call(&r, get, "/orders/items?b=2", &[]);
        assert_eq!((d, forwarded(&c)), (Ok("o1".into()), "/items?b=2".into()));
        // Retired: 410, recorded under the version's API.
        let (d, c) = call(&r, get, "/orders/v0/x", &[]);
        assert_eq!(d, Err((410, "retired")));
        assert_eq!(c.route.as_ref().unwrap().api_id, "o0");
        // Unknown and odd.
        assert_eq!(
            call(&r, get, "/orders/v7/x", &[]).0,
            Err((404, "unknown_version"))
        );
        assert_eq!(
            call(&r, get, "/orders/x", &[("accept-version", "v1,v2")]).0,
            Err((400, "bad_version"))
        );
        // The chosen version's methods.
        assert_eq!(
            call(&r, &Method::POST, "/orders/v1/x", &[]).0,
            Err((405, "method_not_allowed"))
        );
        assert_eq!(
            call(&r, &Method::POST, "/orders/v2/x", &[]).0,
            Ok("o2".into())
        );
        // A deprecated version's answer carries its headers.
        let (_, mut c) = call(&r, get, "/orders/v2/x", &[]);
        let mut h = HeaderMap::new();
        c.answer_head(StatusCode::OK, &mut h);
        assert_eq!(h["deprecation"], "@1782864000");
        let (_, mut c) = call(&r, get, "/orders/v1/x", &[]);
        let mut h = HeaderMap::new();
        c.answer_head(StatusCode::OK, &mut h);
        assert!(h.get("deprecation").is_none());
    }

    #[test]
    fn a_public_family_splits_by_address_and_a_named_version_is_never_split() {
        let all = orders(100.0);
        let get = &Method::GET;
        let (d, c) = call(&all, get, "/orders/x", &[]);
        assert_eq!(d, Ok("o2".into()));
        assert!(c.canary.is_none(), "decided at once: nobody authenticates");
        assert_eq!(call(&all, get, "/orders/v1/x", &[]).0, Ok("o1".into()));
        assert_eq!(
            call(&all, get, "/orders/x", &[("accept-version", "v1")]).0,
            Ok("o1".into())
        );
    }
}
