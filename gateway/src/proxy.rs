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
use crate::phase::{authenticate, authorize, limits, request, response, upstream, version};
use crate::phase::{Ctx, Peer, Stop};
use crate::policy::Policies;
use crate::recorder::{Call, Sink};
use crate::route::{Route, Router};
use crate::trace;
use crate::tunnel::Tunnels;

/// What every request handler shares; one per gateway.
pub(crate) struct Shared {
    /// Swapped whole when the configuration log changes.
    pub router: Arc<arc_swap::ArcSwap<Router>>,
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
    /// W3C Trace Context per call (`[gateway] tracing`; see [`crate::trace`]).
    pub tracing: bool,
    /// Upgraded connections passed through (WebSocket...): their cap, idle timeout and stop.
    pub tunnels: Tunnels,
    /// The gateway's own endpoints on the proxy port, answered before routing (the OAuth 2.0
    /// authorization server's, the transaction tokens'; see [`filter::Locals`]).
    pub local: Option<Arc<dyn LocalEndpoints>>,
    /// The request policies' gateway-wide state (nonces, first answers, buckets).
    pub policies: Policies,
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
    // the trace first, so that a call refused by any phase is traceable too
    if shared.tracing {
        call.trace = Some(trace::begin(req.headers()));
    }
    // 0. the site's deny list (every path)
    if let Err(stop) = request::site(&shared.policies, req.headers(), &mut call) {
        return stopped(call, stop);
    }
    // 1. early filter: path, local endpoints, route
    let router = shared.router.load();
    let local = shared.local.as_ref();
    let route = match filter::filter(&router, local, req.method(), req.headers(), &mut call) {
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
    let (parts, body) = req.into_parts();
    // 1b. screen: the API's deny list, CORS
    if let Err(stop) = request::screen(&shared.policies, &route, &parts, &mut call) {
        return stopped(call, stop);
    }
    // 2–4. authenticate, (2b. an API family's canary), authorize, limits
    let route = match access(&shared.access, &route, &parts.headers, &mut call).await {
        Ok(canary) => canary.unwrap_or(route),
        Err(refused) => return response::answer(call, refused.into()),
    };
    // 5. request policies
    let policies = &shared.policies;
    let read_timeout = shared.upstream_timeout;
    let body =
        match request::policies(policies, &route, &parts, body, read_timeout, &mut call).await {
            Ok(body) => body,
            Err(stop) => return stopped(call, stop),
        };
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

/// A request policy ended the call: its refusal or its own answer.
fn stopped(call: Call, stop: Stop) -> Response<ResponseBody> {
    match stop {
        Stop::Refuse(answer) => response::answer(call, answer),
        Stop::Reply(reply) => response::reply(call, *reply),
    }
}

/// Phases 2–4: who is calling (an API with `auth` only), may they, how much; then the gate.
/// Returns the canary version's route when the call moved there (2b, see [`version`]).
async fn access(
    access: &Access,
    route: &Route,
    headers: &HeaderMap,
    ctx: &mut Ctx,
) -> Result<Option<Arc<Route>>, Refused> {
    let methods = &route.spec.auth;
    let mut moved = None;
    if !methods.is_empty() {
        let table = access.table.load_full();
        let now = access.clock.now();
        authenticate::authenticate(access, &table, now, methods, headers, ctx).await?;
        moved = version::canary(&table, headers, ctx);
        authorize::authorize(access, &table, now, headers, ctx)?;
        limits::take(access, &table, now, access.clock.mono_ns(), ctx)?;
    }
    limits::admit(access, ctx).await?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use bytes::Bytes;
    use gatewatch_model::Outcome;
    use http_body_util::{BodyExt, Empty};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    use super::*;
    use crate::phase::filter::LocalAnswer;
    use crate::recorder::CallEvent;
    use crate::route::RouteConfig;

    /// `/oauth2/token` answers at once and names a client; `/oauth2/slow` says it started,
    /// then never answers.
    struct Endpoints {
        started: Arc<tokio::sync::Notify>,
    }

    impl LocalEndpoints for Endpoints {
        fn serves(&self, path: &str) -> Option<&'static str> {
            match path {
                "/oauth2/token" => Some("/oauth2/token"),
                "/oauth2/slow" => Some("/oauth2/slow"),
                _ => None,
            }
        }

        fn answer<'a>(
            &'a self,
            req: Request<Incoming>,
            ctx: &'a mut Ctx,
        ) -> Pin<Box<dyn Future<Output = LocalAnswer> + Send + 'a>> {
            Box::pin(async move {
                if req.uri().path().ends_with("slow") {
                    self.started.notify_one();
                    std::future::pending::<()>().await;
                }
                ctx.caller.client_id = Some("acme".into());
                let mut response = Response::new(Bytes::from_static(b"{\"ok\":true}"));
                *response.status_mut() = http::StatusCode::OK;
                LocalAnswer {
                    response,
                    outcome: Outcome::Ok,
                    error: String::new(),
                }
            })
        }
    }

    /// A gateway (the proxy's handler only) whose `/oauth2` API would take every path under it.
    async fn gateway(
        started: Arc<tokio::sync::Notify>,
    ) -> (std::net::SocketAddr, mpsc::Receiver<Box<CallEvent>>) {
        let (tx, rx) = mpsc::channel(16);
        let metrics = Arc::new(Metrics::default());
        let router = Router::new(&[RouteConfig::new("/oauth2", ["http://127.0.0.1:1"])]).unwrap();
        let shared = Arc::new(Shared {
            router: Arc::new(arc_swap::ArcSwap::from_pointee(router)),
            access: Arc::new(crate::access::tests::access_for_tests()),
            sink: Arc::new(Sink {
                records: tx,
                metrics: metrics.clone(),
                journal: None,
            }),
            metrics,
            upstream_timeout: Duration::from_secs(1),
            queue_capacity: 16,
            spool_max_bytes: 0,
            client_header: http::HeaderName::from_static("x-gatewatch-client"),
            tracing: true,
            tunnels: Tunnels::new(
                Duration::from_secs(1),
                1,
                tokio::sync::watch::channel(false).1,
            ),
            local: Some(Arc::new(Endpoints { started })),
            policies: Policies::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let shared = shared.clone();
                let peer = Peer {
                    addr: peer,
                    ip_header: crate::headers::ip_header(peer.ip()),
                    tls: None,
                    client_cert: None,
                };
                let service = service_fn(move |req| handle(shared.clone(), req, peer.clone()));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (addr, rx)
    }

    /// A client connection: its sender, and its task (abort it to close the connection).
    async fn client(
        addr: std::net::SocketAddr,
    ) -> (
        hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        (send, tokio::spawn(conn))
    }

    fn get(path: &str) -> Request<Empty<Bytes>> {
        Request::get(path)
            .header(http::header::HOST, "gw")
            .body(Empty::new())
            .unwrap()
    }

    #[tokio::test]
    async fn a_local_endpoint_answers_before_routing_and_every_call_makes_one_record() {
        let started = Arc::new(tokio::sync::Notify::new());
        let (addr, mut rx) = gateway(started.clone()).await;
        let (mut send, _conn) = client(addr).await;
        // Spelled oddly, still the endpoint (the path is normalized first), not the API.
        let resp = send.send_request(get("/oauth2//./token")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-request-id"));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{\"ok\":true}");
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.route_fields(), ("", "", "/oauth2/token", ""));
        assert_eq!((ev.status, ev.outcome), (200, Outcome::Ok));
        assert_eq!(ev.caller.client_id.as_deref(), Some("acme"));
        assert_eq!(ev.uri.path(), "/oauth2//./token");

        // The client leaves while the endpoint works: one record, 499 client_aborted.
        let (mut send, conn) = client(addr).await;
        let pending = tokio::spawn(async move { send.send_request(get("/oauth2/slow")).await });
        started.notified().await;
        pending.abort();
        conn.abort();
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.route_fields().2, "/oauth2/slow");
        assert_eq!((ev.status, ev.outcome), (499, Outcome::ClientAborted));

        // Another path under the API is routed as before (its upstream is down: 502).
        let (mut send, _conn) = client(addr).await;
        let resp = send.send_request(get("/oauth2/other")).await.unwrap();
        assert_eq!(resp.status(), 502);
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.route_fields().0, "/oauth2");
        assert_eq!(ev.outcome, Outcome::UpstreamUnreachable);
        assert!(rx.try_recv().is_err(), "one record per call");
    }
}
