//! The proxy's phases for one request, in order:
//!
//! 1. (the gateway's own `/healthz`, `/readyz`, `/metrics` are on the admin port, see
//!    [`crate::admin`]: every path here is routed);
//! 2. **start** — a [`Call`] is opened: call id (UUIDv7 of the start time), request id;
//! 3. **early filter** — the path normalized once ([`crate::path`]; refused 400 `bad_path`),
//!    then **route** by that path — the most specific path pattern whose API takes the method (see
//!    [`crate::route`]); a path known only for other methods → 405 with `Allow`; none → 404,
//!    both `no_route`; then **access** — credentials, grants, limits, VIP gate (see
//!    [`crate::access`]); a refusal answers at once with its status and code;
//! 4. **upstream request** — hop-by-hop headers out, `X-Forwarded-*`, `Host`, `X-Request-Id`
//!    in, the credential and any client-sent client header out, the client header in, target
//!    rewritten from the normalized path; the body streams through [`RequestBody`];
//! 5. **upstream** — picked by the API's policy among healthy upstreams not yet tried;
//!    counted in flight until the call ends; retried by the rules of [`Attempts`]; no response
//!    head within the API's (or the gateway's) timeout → 504;
//! 6. **response** — hop-by-hop headers out, `X-Request-Id` in, the body streams through
//!    [`ResponseBody`], which owns the `Call`;
//! 7. **logging** — the `Call` drops and emits the record (see [`crate::recorder`]).

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gatewatch_model::Outcome;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tracing::debug;

use crate::body::{BodyCount, RequestBody, ResponseBody};
use crate::headers::{self, X_REQUEST_ID};
use crate::ids;
use crate::metrics::Metrics;
use crate::recorder::{Call, CallEvent, CLIENT_CLOSED_STATUS};
use crate::route::{Lookup, Route, Router, Tried};
use crate::tunnel::Tunnels;
use crate::upstream::pool::Lease;
/// An error and its sources on one line (shared with the listener, the pool and health checks).
pub(crate) use gatewatch_listen::chain;

/// What every request handler shares; one per gateway.
pub(crate) struct Shared {
    /// Swapped whole when the configuration log changes.
    pub router: arc_swap::ArcSwap<Router>,
    /// Authentication, authorization, limits and the VIP gate (its table swaps with the router).
    pub access: Arc<crate::access::Access>,
    /// The bounded record queue (the proxy only ever `try_send`s).
    pub records: mpsc::Sender<Box<CallEvent>>,
    pub metrics: Arc<Metrics>,
    pub upstream_timeout: Duration,
    pub queue_capacity: usize,
    pub spool_max_bytes: u64,
    /// Carries the caller's client id upstream (`X-Gatewatch-Client` by default); whatever
    /// a client sends under this name is removed first.
    pub client_header: http::HeaderName,
    /// Upgraded connections passed through (WebSocket...): their cap, idle timeout and stop.
    pub tunnels: Tunnels,
    /// The OAuth 2.0 authorization server's endpoints (see [`crate::oauth`]).
    pub oauth: Arc<crate::oauth::Server>,
}

/// The client end of one connection.
#[derive(Clone)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    /// The address rendered once for `X-Forwarded-For`.
    pub ip_header: HeaderValue,
    /// What the TLS handshake settled, when the call came over the TLS listener
    /// (`X-Forwarded-Proto: https` upstream; version and cipher in the record).
    pub tls: Option<Arc<gatewatch_listen::TlsInfo>>,
    /// `sha256:<hex>` of the client certificate, hashed once per connection (`mtls` APIs
    /// look it up in the access table).
    pub client_cert: Option<Arc<str>>,
}

impl Peer {
    pub fn new(conn: gatewatch_listen::Conn) -> Peer {
        let client_cert = conn
            .tls
            .as_ref()
            .and_then(|t| t.client_cert.as_deref())
            .map(|der| Arc::from(gatewatch_model::client::certificate_fingerprint(der)));
        Peer {
            addr: conn.peer,
            ip_header: headers::ip_header(conn.peer.ip()),
            tls: conn.tls,
            client_cert,
        }
    }
}

/// The hyper service: one call through the gateway.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: Peer,
) -> Result<Response<ResponseBody>, Infallible> {
    let start = Instant::now();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let call_id = ids::v7_at(since_epoch);
    let (request_id, generated) = match req.headers().get(&X_REQUEST_ID) {
        Some(v) if headers::valid_request_id(v) => (v.clone(), false),
        _ => (ids::header_value(&call_id), true),
    };
    let mut call = Call::new(
        shared.clone(),
        start,
        since_epoch,
        call_id,
        request_id.clone(),
        &req,
        &peer,
    );
    if generated {
        call.request_id_generated();
    }
    Ok(proxy(&shared, req, peer, call, request_id).await)
}

async fn proxy(
    shared: &Shared,
    req: Request<Incoming>,
    peer: Peer,
    mut call: Call,
    request_id: HeaderValue,
) -> Response<ResponseBody> {
    // ── early filter (crate::path): the one path that is routed and forwarded ──
    let normalized = match crate::path::normalize(req.uri().path()) {
        Ok(n) => n,
        Err(e) => return error_response(call, &request_id, Failure::BadPath, e.to_string()),
    };
    let path = normalized.as_deref().unwrap_or(req.uri().path());
    // The authorization server's own paths, before routing: no API can take them.
    if let Some(ep) = crate::oauth::endpoint(path) {
        return crate::oauth::server::serve(shared, ep, req, &peer, call, &request_id).await;
    }
    let route = match shared.router.load().lookup(req.method(), path) {
        Lookup::Found(r) => r.clone(),
        Lookup::WrongMethod { route, allow } => {
            call.set_route(route.clone());
            let message = format!(
                "{} is not allowed on '{}' (allowed: {})",
                req.method(),
                path,
                allow.to_str().unwrap_or("")
            );
            let mut resp = error_response(call, &request_id, Failure::WrongMethod, message);
            resp.headers_mut().insert(header::ALLOW, allow);
            return resp;
        }
        Lookup::NotFound => {
            let message = format!("no route for path '{path}'");
            return error_response(call, &request_id, Failure::NoRoute, message);
        }
    };
    call.set_route(route.clone());
    // capture: the client's headers as received, when the API's policy keeps headers.
    call.capture_request_headers(req.headers());

    // ── access phase (crate::access): credentials, grants, limits, then the VIP gate ──
    let client = match shared
        .access
        .admit(
            &route,
            req.headers(),
            peer.addr,
            peer.client_cert.as_ref(),
            &mut call,
        )
        .await
    {
        Ok(client) => client,
        Err(refusal) => return refusal.answer(call, &request_id),
    };

    let (mut parts, body) = req.into_parts();
    // A protocol upgrade (WebSocket...) asked for on HTTP/1.1: passed through if the upstream
    // switches (see `crate::tunnel`). hyper gives the request its side of the connection.
    let upgrade = match headers::upgrade_requested(&parts.headers) {
        Some(protocol) if parts.version == Version::HTTP_11 => {
            match parts.extensions.remove::<OnUpgrade>() {
                None => None,
                Some(client) => match shared.tunnels.place() {
                    Some(place) => Some(Upgrade {
                        protocol,
                        client,
                        place,
                    }),
                    None => {
                        let message = "too many upgraded connections open".to_string();
                        return error_response(call, &request_id, Failure::TunnelsFull, message);
                    }
                },
            }
        }
        _ => None,
    };
    let method = parts.method;
    let original_uri = parts.uri;
    let mut headers = parts.headers;
    let client_host = headers.remove(header::HOST).or_else(|| {
        original_uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    headers::strip_hop_by_hop(&mut headers);
    // hyper already answered `100 Continue` to the client when the body was first read.
    headers.remove(header::EXPECT);
    headers::set_forwarded(
        &mut headers,
        &peer.ip_header,
        client_host,
        peer.tls.is_some(),
    );
    headers.insert(X_REQUEST_ID.clone(), request_id.clone());
    // Credentials stop here: the upstream learns the caller from the client header, which
    // only the gateway sets (a client's own copy is removed on every API, public ones too).
    headers.remove(&shared.client_header);
    if let Some(id) = client {
        headers.insert(shared.client_header.clone(), id);
    }
    if !route.spec.auth.is_empty() && !route.spec.forward_credentials {
        crate::access::auth::strip_credentials(&route.spec.auth, &mut headers);
    }
    if let Some(u) = &upgrade {
        // Hop-by-hop, so removed above; this hop asks for the same switch.
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u.protocol.clone());
    }

    let counter = (!body.is_end_stream()).then(|| Arc::new(BodyCount::default()));
    let mut body = counter.is_some().then_some(body);
    if let Some(c) = &counter {
        call.count_request_bytes(c.clone());
    }
    let budget = Attempts::new(&route, &method);
    // A failed attempt loses the request inside the connection; keep what another try
    // needs. Only routes that may try again pay for the copy.
    let keep_headers = budget.may_retry();
    let timeout = route.timeout.unwrap_or(shared.upstream_timeout);

    let sent_at = Instant::now();
    let mut tried = Tried::default();
    let (response, in_flight, lease) = loop {
        let index = route.pick(tried.as_slice());
        tried.push(index);
        let upstream = &route.upstreams[index];
        call.set_upstream(index);
        let uri = match route.upstream_uri(normalized.as_deref(), &original_uri) {
            Ok(u) => u,
            Err(e) => {
                let message = format!("cannot build the upstream target: {e}");
                return error_response(call, &request_id, Failure::Gateway, message);
            }
        };
        let (give_back, mut given_back) = if keep_headers && body.is_some() {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let req_body = match (body.take(), &counter) {
            (Some(b), Some(c)) => RequestBody::new(b, c.clone(), give_back),
            _ => RequestBody::empty(),
        };
        let mut upstream_req = Request::new(req_body);
        *upstream_req.method_mut() = method.clone();
        *upstream_req.uri_mut() = uri;
        *upstream_req.version_mut() = Version::HTTP_11;
        *upstream_req.headers_mut() = if keep_headers {
            headers.clone()
        } else {
            std::mem::take(&mut headers)
        };
        upstream_req
            .headers_mut()
            .insert(header::HOST, upstream.host_header.clone());

        let in_flight = upstream.state.begin();
        let result = tokio::time::timeout(timeout, upstream.pool.send(upstream_req)).await;
        // The body comes back only if it was never polled: nothing of it left the gateway.
        let mut take_body = || given_back.as_mut().and_then(|rx| rx.try_recv().ok());
        let failure = match result {
            Ok(Ok((resp, lease))) => {
                if counter.as_ref().is_some_and(|c| c.malformed()) {
                    // The upstream answered a body cut short where it stopped parsing: the
                    // client is told what went wrong, not the answer to half a request.
                    drop((resp, lease));
                    call.set_upstream_latency(sent_at.elapsed());
                    let message = "client request body malformed; the upstream's answer to \
                                   the part before it was dropped"
                        .to_string();
                    return error_response(call, &request_id, Failure::BadBody, message);
                }
                route.report(index, resp.status().is_server_error());
                break (resp, in_flight, lease);
            }
            Err(_elapsed) => {
                let message = format!(
                    "no response from {} within {} ms",
                    upstream.label,
                    timeout.as_millis()
                );
                (Failure::Timeout, Retry::BeforeHead, message)
            }
            Ok(Err(e)) if e.is_connect() => {
                let message = format!("cannot connect to {}: {}", upstream.label, chain(&e));
                (Failure::Unreachable, Retry::NothingSent, message)
            }
            Ok(Err(e)) => {
                if let Some(c) = counter.as_ref().filter(|c| c.client_failed()) {
                    // The upload broke on the client's side, not the upstream's: a body that
                    // does not parse (a bad chunk size) is the client's mistake, answered
                    // 400; a client that went away reads nothing (499 is for the record).
                    call.set_upstream_latency(sent_at.elapsed());
                    let (failure, what) = if c.malformed() {
                        (Failure::BadBody, "malformed")
                    } else {
                        (Failure::ClientGone, "failed")
                    };
                    let message = format!("client request body {what}: {}", chain(&e));
                    return error_response(call, &request_id, failure, message);
                }
                let message = format!("{} failed: {}", upstream.label, chain(&e));
                (Failure::Upstream, Retry::BeforeHead, message)
            }
        };
        drop(in_flight);
        route.report(index, true);
        let (failure, kind, message) = failure;
        let returned = take_body();
        let body_ready = counter.is_none() || returned.is_some();
        if body_ready && budget.allows(kind, tried.as_slice().len()) {
            debug!(upstream = %upstream.label, error = %message, "attempt failed; trying another upstream");
            body = returned;
            continue;
        }
        call.set_upstream_latency(sent_at.elapsed());
        return error_response(call, &request_id, failure, message);
    };
    call.set_upstream_latency(sent_at.elapsed());
    call.hold(in_flight);
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        return switch(&shared.tunnels, call, request_id, response, lease, upgrade);
    }

    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(X_REQUEST_ID.clone(), request_id);
    let status = parts.status.as_u16();
    call.answered(status, Outcome::from_upstream_status(status));
    // capture: the response headers as the client gets them, when the policy keeps headers.
    call.capture_response_headers(&parts.headers);
    Response::from_parts(parts, ResponseBody::upstream(body, call, lease))
}

/// An upgrade the client asked for: the protocol, the client's side of the connection once
/// the `101` has reached it, and the tunnel's place under the cap.
struct Upgrade {
    protocol: HeaderValue,
    client: OnUpgrade,
    place: OwnedSemaphorePermit,
}

/// The upstream answered `101 Switching Protocols`: the client gets the switch and the two
/// connections become a tunnel, recorded when it ends (see [`crate::tunnel`]). A switch the
/// client did not ask for is an upstream failure (502): the client would not know what to
/// speak.
fn switch(
    tunnels: &Tunnels,
    mut call: Call,
    request_id: HeaderValue,
    response: Response<Incoming>,
    lease: Lease,
    upgrade: Option<Upgrade>,
) -> Response<ResponseBody> {
    let (mut parts, _no_body) = response.into_parts();
    let upstream = parts.extensions.remove::<OnUpgrade>();
    // The upstream's connection is the tunnel's now (or done): never back to the pool.
    drop(lease);
    let (Some(upgrade), Some(upstream)) = (upgrade, upstream) else {
        let message = "the upstream switched protocols (101) unasked".to_string();
        return error_response(call, &request_id, Failure::Upstream, message);
    };
    let protocol = parts
        .headers
        .get(header::UPGRADE)
        .cloned()
        .unwrap_or(upgrade.protocol);
    headers::strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    parts.headers.insert(header::UPGRADE, protocol);
    parts.headers.insert(X_REQUEST_ID.clone(), request_id);
    let status = parts.status.as_u16();
    call.answered(status, Outcome::from_upstream_status(status));
    call.capture_response_headers(&parts.headers);
    call.release_admission();
    tokio::spawn(crate::tunnel::run(
        call,
        upgrade.client,
        upstream,
        tunnels.clone(),
        upgrade.place,
    ));
    Response::from_parts(parts, ResponseBody::full(bytes::Bytes::new(), None))
}

/// How a failed attempt failed, for the retry rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// No connection was made: nothing reached the upstream.
    NothingSent,
    /// The request (or part of it) may have reached the upstream; no response head came.
    BeforeHead,
}

/// The retry rules in one place (see the crate doc): a connect failure may always go to
/// another upstream once (more with `retries`), since nothing was sent; any other failure
/// before a response head is retried only for idempotent methods, up to `retries` times. In
/// both cases the request body must be whole: absent, or handed back unread by the client.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    /// Most attempts after a connect failure.
    after_connect: usize,
    /// Most attempts after another failure before the head.
    after_other: usize,
}

impl Attempts {
    fn new(route: &Route, method: &Method) -> Attempts {
        let retries = usize::from(route.retries);
        let idempotent = matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        );
        let spare = usize::from(route.upstreams.len() > 1);
        Attempts {
            after_connect: 1 + retries.max(spare),
            after_other: if idempotent { 1 + retries } else { 1 },
        }
    }

    fn may_retry(&self) -> bool {
        self.after_connect > 1 || self.after_other > 1
    }

    /// May another attempt follow `done` attempts, the last failing as `kind`?
    fn allows(&self, kind: Retry, done: usize) -> bool {
        done < match kind {
            Retry::NothingSent => self.after_connect,
            Retry::BeforeHead => self.after_other,
        }
    }
}

/// The errors the gateway answers itself.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// The path cannot be normalized safely (see [`crate::path`]).
    BadPath,
    /// The request body does not parse (e.g. a bad chunk size).
    BadBody,
    NoRoute,
    WrongMethod,
    Unreachable,
    Timeout,
    Upstream,
    ClientGone,
    Gateway,
    /// As many tunnels are open as the proxy port takes connections.
    TunnelsFull,
}

impl Failure {
    fn parts(self) -> (StatusCode, Outcome, &'static str) {
        match self {
            Failure::BadPath => (
                StatusCode::BAD_REQUEST,
                Outcome::RefusedBadRequest,
                "bad_path",
            ),
            Failure::BadBody => (
                StatusCode::BAD_REQUEST,
                Outcome::RefusedBadRequest,
                "bad_body",
            ),
            Failure::NoRoute => (StatusCode::NOT_FOUND, Outcome::NoRoute, "no_route"),
            Failure::WrongMethod => (
                StatusCode::METHOD_NOT_ALLOWED,
                Outcome::NoRoute,
                "method_not_allowed",
            ),
            Failure::Unreachable => (
                StatusCode::BAD_GATEWAY,
                Outcome::UpstreamUnreachable,
                "upstream_unreachable",
            ),
            Failure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                Outcome::Timeout,
                "upstream_timeout",
            ),
            Failure::Upstream => (
                StatusCode::BAD_GATEWAY,
                Outcome::UpstreamError,
                "upstream_error",
            ),
            // nginx's 499: nobody will read it, but the record says what happened.
            Failure::ClientGone => (
                StatusCode::from_u16(CLIENT_CLOSED_STATUS).unwrap_or(StatusCode::BAD_REQUEST),
                Outcome::ClientAborted,
                "client_aborted",
            ),
            Failure::Gateway => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Outcome::GatewayError,
                "gateway_error",
            ),
            Failure::TunnelsFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                Outcome::RefusedBusy,
                "refused_busy",
            ),
        }
    }

    /// What the client is told instead of the recorded detail: upstream failures name no
    /// upstream address (the record, for operators, keeps it).
    fn client_message(self) -> Option<&'static str> {
        match self {
            Failure::Unreachable => Some("the upstream could not be reached"),
            Failure::Timeout => Some("the upstream did not answer in time"),
            Failure::Upstream => Some("the upstream failed before answering"),
            Failure::Gateway => Some("the gateway could not forward the call"),
            _ => None,
        }
    }
}

/// [`json_error`] for the proxy's own failures; `message` is the recorded detail.
fn error_response(
    call: Call,
    request_id: &HeaderValue,
    failure: Failure,
    message: String,
) -> Response<ResponseBody> {
    let (status, outcome, code) = failure.parts();
    match failure.client_message() {
        Some(told) => answer(call, request_id, status, outcome, code, told, message),
        None => json_error(call, request_id, status, outcome, code, message),
    }
}

/// The gateway's own answer: `{"error":{"code","message"}}`, JSON, with the request id; the
/// call records `status`, `outcome` and `code: message` as its error.
pub(crate) fn json_error(
    call: Call,
    request_id: &HeaderValue,
    status: StatusCode,
    outcome: Outcome,
    code: &str,
    message: String,
) -> Response<ResponseBody> {
    let told = serde_json::json!({ "error": { "code": code, "message": &message } });
    respond(call, request_id, status, outcome, code, &told, message)
}

/// [`json_error`] telling the client `told` and recording `detail`.
pub(crate) fn answer(
    call: Call,
    request_id: &HeaderValue,
    status: StatusCode,
    outcome: Outcome,
    code: &str,
    told: &str,
    detail: String,
) -> Response<ResponseBody> {
    let told = serde_json::json!({ "error": { "code": code, "message": told } });
    respond(call, request_id, status, outcome, code, &told, detail)
}

fn respond(
    mut call: Call,
    request_id: &HeaderValue,
    status: StatusCode,
    outcome: Outcome,
    code: &str,
    body: &serde_json::Value,
    detail: String,
) -> Response<ResponseBody> {
    let body = serde_json::to_vec(body).unwrap_or_default();
    // The code leads the recorded error, so reports can count refusals and failures by reason.
    call.failed(
        status.as_u16(),
        outcome,
        Cow::Owned(format!("{code}: {detail}")),
    );
    let mut resp = Response::new(ResponseBody::full(body, Some(call)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(X_REQUEST_ID.clone(), request_id.clone());
    resp
}
