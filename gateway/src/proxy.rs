//! The proxy's handler: one call through the phases of [`crate::phase`], in order. Each phase
//! reads and writes the call's context (the [`Call`] derefs to it) and decides to go on or to
//! answer now; every exit path ends with the `Call` dropped somewhere (here, in the response
//! body, in a tunnel) and so with exactly one record ([`crate::recorder`]).
//!
//! (The gateway's own `/healthz`, `/readyz`, `/metrics` are on the admin port, see
//! [`crate::admin`]: every path here is routed, but the local endpoints'.)

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;

use crate::access::refusal::Refused;
use crate::access::Access;
use crate::body::response::ResponseBody;
use crate::metrics::Metrics;
use crate::phase::filter::{self, Filtered, LocalEndpoints};
use crate::phase::{authenticate, authorize, limits, request, response, upstream};
use crate::phase::{Ctx, Peer};
use crate::recorder::{Call, Sink};
use crate::route::{Route, Router};
use crate::tunnel::Tunnels;

/// What every request handler shares; one per gateway.
pub(crate) struct Shared {
    /// Swapped whole when the configuration log changes.
    pub router: arc_swap::ArcSwap<Router>,
    /// Authentication, authorization, limits and the VIP gate (its table swaps with the router).
    pub access: Arc<Access>,
    /// Where finished calls' records go (the bounded queue; the proxy never waits on it).
    pub sink: Arc<Sink>,
    pub metrics: Arc<Metrics>,
    pub upstream_timeout: Duration,
    pub queue_capacity: usize,
    pub spool_max_bytes: u64,
    /// Carries the caller's client id upstream (`X-Gatewatch-Client` by default); whatever
    /// a client sends under this name is removed first.
    pub client_header: http::HeaderName,
    /// Upgraded connections passed through (WebSocket...): their cap, idle timeout and stop.
    pub tunnels: Tunnels,
    /// The gateway's own endpoints on the proxy port, answered before routing (the OAuth 2.0
    /// authorization server's).
    pub local: Option<Arc<dyn LocalEndpoints>>,
}

/// The hyper service: one call through the gateway.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: Peer,
) -> Result<Response<ResponseBody>, Infallible> {
    let call = Call::open(shared.sink.clone(), Ctx::new(&req, peer));
    Ok(proxy(&shared, req, call).await)
}

/// The phases in order; see [`crate::phase`].
async fn proxy(shared: &Shared, req: Request<Incoming>, mut call: Call) -> Response<ResponseBody> {
    // 1. early filter: path, local endpoints, route
    let router = shared.router.load();
    let route = match filter::filter(&router, shared.local.as_ref(), req.method(), &mut call) {
        Ok(Filtered::Routed(route)) => route,
        Ok(Filtered::Local(endpoints)) => {
            drop(router);
            let answer = endpoints.answer(req, &mut call).await;
            return response::local(call, answer);
        }
        Err(answer) => return response::answer(call, answer),
    };
    drop(router);
    call.capture_request_headers(req.headers());
    // 2–4. authenticate, authorize, limits
    if let Err(refused) = access(&shared.access, &route, req.headers(), &mut call).await {
        return response::answer(call, refused.into());
    }
    let (parts, body) = req.into_parts();
    // 5. request policies
    if let Err(answer) = request::policies(&route, &parts, &mut call) {
        return response::answer(call, answer);
    }
    // 6. upstream
    let settings = upstream::Settings {
        timeout: shared.upstream_timeout,
        client_header: &shared.client_header,
        tunnels: &shared.tunnels,
    };
    match upstream::forward(&settings, &route, parts, body, &mut call).await {
        // 7. response (8. the record: when the `Call` drops)
        Ok(answered) => response::respond(&shared.tunnels, call, answered),
        Err(answer) => response::answer(call, answer),
    }
}

/// Phases 2–4: who is calling (an API with `auth` only), may they, how much; then the gate.
async fn access(
    access: &Access,
    route: &Route,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Result<(), Refused> {
    let methods = &route.spec.auth;
    if !methods.is_empty() {
        let table = access.table.load_full();
        let now = access.clock.now();
        authenticate::authenticate(access, &table, now, methods, headers, ctx).await?;
        authorize::authorize(access, &table, now, headers, ctx)?;
        limits::take(access, &table, now, access.clock.mono_ns(), ctx)?;
    }
    limits::admit(access, ctx).await
}
