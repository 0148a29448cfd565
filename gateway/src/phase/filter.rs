//! Phase 1, the early filter: what is decided from the request head alone, before anyone is
//! asked who is calling.
//!
//! 1. the path is normalized once ([`crate::path`]; refused 400 `bad_path`) — the one path
//!    that is routed and forwarded;
//! 2. the gateway's own endpoints on the proxy port ([`LocalEndpoints`]: the OAuth 2.0
//!    authorization server's `/oauth2/*` and `/.well-known/oauth-authorization-server`) are
//!    answered here, before routing, so no API can take their paths;
//! 3. the route: the most specific path pattern whose API takes the method ([`crate::route`]);
//!    a path known only for other methods → 405 with `Allow`; none → 404, both `no_route`;
//!    an API family's route then picks the call's version ([`super::version::choose`]; a
//!    version segment of the path is taken out before the lookup).
//!
//! Header sizes and counts are bounded by the listener (`gatewatch_listen`) before a call
//! exists; limits on a request's size that need the route belong here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use gatewatch_model::Outcome;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;

use super::{version, Answer, Ctx, Decision, Failure};
use crate::route::{Lookup, Route, Router};

/// Endpoints the gateway answers itself on the proxy port, before routing; each answer is
/// recorded like any call (one record: `route` = the endpoint's name, no API).
pub(crate) trait LocalEndpoints: Send + Sync + 'static {
    /// The endpoint's name (its path, e.g. `/oauth2/token`) when `path` — normalized — is
    /// one of these endpoints. Asked on every call: keep it cheap.
    fn serves(&self, path: &str) -> Option<&'static str>;

    /// Answers the call. Writes what the record needs of the caller into `ctx.caller`
    /// (client id, auth method, token ids); the status is the response's, the outcome and
    /// the error are the answer's.
    fn answer<'a>(
        &'a self,
        req: Request<Incoming>,
        ctx: &'a mut Ctx,
    ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>>;
}

/// Several sets of local endpoints as one (the OAuth 2.0 server's, the transaction
/// tokens'): the first that serves a path answers it.
pub(crate) struct Locals(pub Vec<Arc<dyn LocalEndpoints>>);

impl LocalEndpoints for Locals {
    fn serves(&self, path: &str) -> Option<&'static str> {
        self.0.iter().find_map(|l| l.serves(path))
    }

    fn answer<'a>(
        &'a self,
        req: Request<Incoming>,
        ctx: &'a mut Ctx,
    ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
        // The filter put the endpoint's name in the context; the set that serves it answers.
        let path = ctx.path().to_string();
        match self.0.iter().find(|l| l.serves(&path).is_some()) {
            Some(l) => l.answer(req, ctx),
            None => Box::pin(async move { unserved() }),
        }
    }
}

/// Never reached (the filter asked `serves` first); a 404 rather than a panic.
fn unserved() -> LocalAnswer {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    LocalAnswer {
        response,
        outcome: Outcome::NoRoute,
        error: "no_route: no local endpoint serves this path".into(),
    }
}

/// A local endpoint's answer.
pub(crate) struct LocalAnswer {
    /// Status, headers and body as sent (the gateway adds `X-Request-Id`).
    pub response: Response<Bytes>,
    pub outcome: Outcome,
    /// Empty when all went well; else the reason, leading with its code
    /// (`invalid_client: …`).
    pub error: String,
}

/// Where the early filter sends the call.
pub(crate) enum Filtered {
    /// On through the phases, to this API (also in `ctx.route`).
    Routed(Arc<Route>),
    /// To a local endpoint (its name is in `ctx.local`).
    Local(Arc<dyn LocalEndpoints>),
}

/// The early filter; see the module doc.
pub(crate) fn filter(
    router: &Router,
    local: Option<&Arc<dyn LocalEndpoints>>,
    method: &Method,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Decision<Filtered> {
    match crate::path::normalize(ctx.uri.path()) {
        Ok(n) => ctx.path = n,
        Err(e) => return Err(Answer::failure(Failure::BadPath, e.to_string())),
    }
    if let Some(l) = local {
        if let Some(name) = l.serves(ctx.path()) {
            ctx.local = Some(name);
            return Ok(Filtered::Local(l.clone()));
        }
    }
    let path = ctx.path();
    // An API family's version in the path (`/orders/v2/…`): routed without it, when the rest
    // is that family's.
    let mut named = None;
    let mut found = None;
    if let Some((family, seg, rest)) = router.path_version(path) {
        if let Lookup::Found(r) = router.lookup(method, &rest) {
            if router.family(r).is_some_and(|f| std::ptr::eq(f, family)) {
                found = Some((family, r));
                named = Some((seg.to_string(), rest));
            }
        }
    }
    let lookup = match found {
        Some((family, _)) => {
            let r = version::choose(family, named, method, headers, ctx)?;
            return Ok(Filtered::Routed(r));
        }
        None => router.lookup(method, path),
    };
    match lookup {
        Lookup::Found(r) if r.family.is_some() => match router.family(r) {
            Some(family) => {
                let r = version::choose(family, None, method, headers, ctx)?;
                Ok(Filtered::Routed(r))
            }
            None => Err(Answer::failure(Failure::NoRoute, "no such family".into())),
        },
        Lookup::Found(r) => {
            let r = r.clone();
            ctx.set_route(r.clone());
            Ok(Filtered::Routed(r))
        }
        // An API with CORS answers preflights (`OPTIONS`) itself, whatever its methods; the
        // screen refuses any other `OPTIONS` there with the same 405 (see `policy::cors`).
        Lookup::WrongMethod { route, .. }
            if *method == Method::OPTIONS && route.policies.cors.is_some() =>
        {
            let r = route.clone();
            ctx.set_route(r.clone());
            Ok(Filtered::Routed(r))
        }
        Lookup::WrongMethod { route, allow } => {
            let message = format!(
                "{} is not allowed on '{}' (allowed: {})",
                method,
                path,
                allow.to_str().unwrap_or("")
            );
            let route = route.clone();
            ctx.set_route(route);
            Err(Answer::failure(Failure::WrongMethod, message).header(header::ALLOW, allow))
        }
        Lookup::NotFound => {
            let message = format!("no route for path '{path}'");
            Err(Answer::failure(Failure::NoRoute, message))
        }
    }
}

/// `X-Request-Id` on a local endpoint's answer; the call records its status.
pub(crate) fn local_answered(ctx: &mut Ctx, answer: &mut LocalAnswer) {
    let status = answer.response.status().as_u16();
    let error = std::mem::take(&mut answer.error);
    ctx.failed(status, answer.outcome, error);
    let request_id: HeaderValue = ctx.request_id.clone();
    answer
        .response
        .headers_mut()
        .insert(crate::headers::X_REQUEST_ID.clone(), request_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::RouteConfig;

    struct Token;

    impl LocalEndpoints for Token {
        fn serves(&self, path: &str) -> Option<&'static str> {
            (path == "/oauth2/token").then_some("/oauth2/token")
        }
        fn answer<'a>(
            &'a self,
            _req: Request<Incoming>,
            _ctx: &'a mut Ctx,
        ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
            unreachable!("not called by the filter")
        }
    }

    /// Answers with its own name, to tell which set answered.
    struct Named(&'static str);

    impl LocalEndpoints for Named {
        fn serves(&self, path: &str) -> Option<&'static str> {
            (path == self.0).then_some(self.0)
        }
        fn answer<'a>(
            &'a self,
            _req: Request<Incoming>,
            _ctx: &'a mut Ctx,
        ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
            Box::pin(async move {
                LocalAnswer {
                    response: Response::new(Bytes::from_static(self.0.as_bytes())),
                    outcome: Outcome::Ok,
                    error: String::new(),
                }
            })
        }
    }

    #[test]
    fn locals_serve_each_set_s_paths() {
        let locals = Locals(vec![Arc::new(Named("/a")), Arc::new(Named("/b"))]);
        assert_eq!(locals.serves("/a"), Some("/a"));
        assert_eq!(locals.serves("/b"), Some("/b"));
        assert_eq!(locals.serves("/c"), None);
        assert_eq!(unserved().response.status(), 404);
    }

    fn ctx(target: &str, method: Method) -> Ctx {
        let mut c = Ctx::for_tests("127.0.0.1");
        c.uri = target.parse().unwrap();
        c.method = method;
        c
    }

    #[test]
    fn the_filter_normalizes_once_serves_local_endpoints_first_then_routes() {
        let router = Router::new(&[RouteConfig::new("/oauth2", ["http://127.0.0.1:1"])]).unwrap();
        let token: Arc<dyn LocalEndpoints> = Arc::new(Token);
        let decide = |target: &str, local: Option<&Arc<dyn LocalEndpoints>>| {
            let mut c = ctx(target, Method::GET);
            let d = filter(&router, local, &Method::GET, &HeaderMap::new(), &mut c);
            (d, c)
        };
        // A local endpoint wins over an API on the same path, also when spelled oddly.
        let (d, c) = decide("/oauth2//./token", Some(&token));
        assert!(matches!(d, Ok(Filtered::Local(_))));
        assert_eq!(
            (c.local, c.path()),
            (Some("/oauth2/token"), "/oauth2/token")
        );
        assert!(c.route.is_none());
        // Without the hook, the API takes it, by the normalized path.
        let (d, c) = decide("/oauth2//./token", None);
        assert!(matches!(d, Ok(Filtered::Routed(_))));
        assert_eq!(c.route.as_ref().unwrap().api_id, "/oauth2");
        let (d, _) = decide("/oauth2/%2e%2e/%2e%2e/x", Some(&token));
        assert_eq!(d.err().map(|a| a.code), Some("bad_path"));
        let (d, c) = decide("/nowhere", Some(&token));
        assert_eq!(d.err().map(|a| a.status.as_u16()), Some(404));
        assert!(c.route.is_none() && c.local.is_none());
    }
}
