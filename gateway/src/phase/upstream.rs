//! Phase 6, upstream: the request as the upstream gets it, and the attempts to get an answer.
//!
//! - **the upstream request**: hop-by-hop headers out (and `Expect`: hyper has answered it),
//!   `X-Forwarded-For`/`-Host`/`-Proto`, `X-Request-Id`; the credentials the API read out
//!   (unless `forward_credentials`), any client-sent client header out and the gateway's in;
//!   the target rewritten from the normalized path; the body streams through
//!   [`RequestBody`], counted, and cut at the API's `max_body_bytes` (413, never retried);
//! - **upgrades** (WebSocket...): asked for on HTTP/1.1, passed on when a place under the
//!   tunnel cap is free (else 503 `refused_busy`); the `101` is the response phase's;
//! - **attempts**: an upstream picked by the API's policy among the healthy ones not yet
//!   tried, counted in flight until the call ends; retried by the rules of [`Attempts`]; no
//!   response head within the API's (or the gateway's) timeout → 504.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tracing::debug;

use super::{Answer, Ctx, Decision, Failure};
use crate::body::client::ClientBody;
use crate::body::count::BodyCount;
use crate::body::request::RequestBody;
use crate::headers::{self, X_REQUEST_ID};
use crate::policy::body_limit;
use crate::route::{Route, Tried};
use crate::tunnel::Tunnels;
use crate::upstream::pool::Lease;
use gatewatch_listen::chain;

/// What the upstream phase needs of the gateway.
pub(crate) struct Settings<'a> {
    /// Per attempt, when the API sets none.
    pub timeout: Duration,
    /// Carries the caller's client id upstream; a client's own copy is removed.
    pub client_header: &'a HeaderName,
    pub tunnels: &'a Tunnels,
}

/// An upgrade the client asked for: the protocol, the client's side of the connection once
/// the `101` has reached it, and the tunnel's place under the cap.
pub(crate) struct Upgrade {
    pub protocol: HeaderValue,
    pub client: OnUpgrade,
    pub place: OwnedSemaphorePermit,
}

/// The upstream's answer: its head and body, the connection's lease (back to the pool when
/// the body has ended) and the upgrade asked for, if any.
pub(crate) struct Answered {
    pub response: Response<Incoming>,
    pub lease: Lease,
    pub upgrade: Option<Upgrade>,
}

/// The upstream phase (see the module doc): sends the call to `route`'s upstreams until one
/// answers with a head or the attempts run out.
pub(crate) async fn forward(
    settings: &Settings<'_>,
    route: &Route,
    mut parts: Parts,
    body: ClientBody,
    ctx: &mut Ctx,
) -> Decision<Answered> {
    // A protocol upgrade (WebSocket...) asked for on HTTP/1.1: passed through if the upstream
    // switches (see `crate::tunnel`). hyper gives the request its side of the connection.
    let upgrade = match headers::upgrade_requested(&parts.headers) {
        Some(protocol) if parts.version == Version::HTTP_11 => {
            match parts.extensions.remove::<OnUpgrade>() {
                None => None,
                Some(client) => match settings.tunnels.place() {
                    Some(place) => Some(Upgrade {
                        protocol,
                        client,
                        place,
                    }),
                    None => {
                        let message = "too many upgraded connections open".to_string();
                        return Err(Answer::failure(Failure::TunnelsFull, message));
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
        &ctx.peer.ip_header,
        client_host,
        ctx.peer.tls.is_some(),
    );
    headers.insert(X_REQUEST_ID.clone(), ctx.request_id.clone());
    // W3C Trace Context: the gateway's span is the upstream's parent (see `crate::trace`).
    if let Some(t) = &ctx.trace {
        crate::trace::outbound(t, &mut headers);
    }
    // Credentials stop here: the upstream learns the caller from the client header, which
    // only the gateway sets (a client's own copy is removed on every API, public ones too).
    headers.remove(settings.client_header);
    if let Some(id) = ctx.client.as_ref().and_then(|c| c.header.clone()) {
        headers.insert(settings.client_header.clone(), id);
    }
    if !route.spec.auth.is_empty() && !route.spec.forward_credentials {
        crate::access::auth::strip_credentials(&route.spec.auth, &mut headers);
    }
    // A transaction token is the gateway's, spent here.
    if route.policies.tx_token.is_some() {
        headers.remove(&crate::policy::tx_token::HEADER);
    }
    if let Some(u) = &upgrade {
        // Hop-by-hop, so removed above; this hop asks for the same switch.
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u.protocol.clone());
    }

    let counter = (!body.is_empty()).then(|| Arc::new(BodyCount::default()));
    if let Some(c) = &counter {
        ctx.count_request_bytes(c.clone());
    }
    // A body the policies read whole is counted once, here, and resent as is on a retry; a
    // streamed one is counted as it streams, and comes back for a retry only unread.
    let (mut body, full, limit) = match body {
        ClientBody::Buffered(data) => {
            if let Some(c) = &counter {
                c.add(&data);
            }
            (None, counter.is_some().then_some(data), None)
        }
        ClientBody::Streamed { body, limit } => (counter.is_some().then_some(body), None, limit),
    };
    let budget = Attempts::new(route, &method);
    // A failed attempt loses the request inside the connection; keep what another try
    // needs. Only routes that may try again pay for the copy.
    let keep_headers = budget.may_retry();
    let timeout = route.timeout.unwrap_or(settings.timeout);

    let sent_at = Instant::now();
    let mut tried = Tried::default();
    loop {
        let index = route.pick(tried.as_slice());
        tried.push(index);
        let upstream = &route.upstreams[index];
        ctx.upstream = Some(index);
        let uri = match route.upstream_uri(ctx.path.as_deref(), ctx.query.as_deref(), &original_uri)
        {
            Ok(u) => u,
            Err(e) => {
                let message = format!("cannot build the upstream target: {e}");
                return Err(Answer::failure(Failure::Gateway, message));
            }
        };
        let (give_back, mut given_back) = if keep_headers && body.is_some() {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let req_body = match (&full, body.take(), &counter) {
            (Some(data), _, _) => RequestBody::full(data.clone()),
            (None, Some(b), Some(c)) => RequestBody::new(b, limit, c.clone(), give_back),
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
            Ok(Ok((response, lease))) => {
                ctx.upstream_latency = sent_at.elapsed();
                if let (Some(limit), true) =
                    (limit, counter.as_ref().is_some_and(|c| c.too_large()))
                {
                    // The body was cut at the limit before this head came: the answer is to
                    // a request the upstream never got whole.
                    drop((response, lease));
                    return Err(body_limit::too_large(limit));
                }
                if counter.as_ref().is_some_and(|c| c.malformed()) {
                    // The upstream answered a body cut short where it stopped parsing: the
                    // client is told what went wrong, not the answer to half a request.
                    drop((response, lease));
                    let message = "client request body malformed; the upstream's answer to \
                                   the part before it was dropped"
                        .to_string();
                    return Err(Answer::failure(Failure::BadBody, message));
                }
                route.report(index, response.status().is_server_error());
                ctx.in_flight = Some(in_flight);
                return Ok(Answered {
                    response,
                    lease,
                    upgrade,
                });
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
                if let (Some(limit), true) =
                    (limit, counter.as_ref().is_some_and(|c| c.too_large()))
                {
                    // Cut at the body limit (see `crate::policy::body_limit`): the client is
                    // told, and nothing is retried.
                    ctx.upstream_latency = sent_at.elapsed();
                    return Err(body_limit::too_large(limit));
                }
                if let Some(c) = counter.as_ref().filter(|c| c.client_failed()) {
                    // The upload broke on the client's side, not the upstream's: a body that
                    // does not parse (a bad chunk size) is the client's mistake, answered
                    // 400; a client that went away reads nothing (499 is for the record).
                    ctx.upstream_latency = sent_at.elapsed();
                    let (failure, what) = if c.malformed() {
                        (Failure::BadBody, "malformed")
                    } else {
                        (Failure::ClientGone, "failed")
                    };
                    let message = format!("client request body {what}: {}", chain(&e));
                    return Err(Answer::failure(failure, message));
                }
                let message = format!("{} failed: {}", upstream.label, chain(&e));
                (Failure::Upstream, Retry::BeforeHead, message)
            }
        };
        drop(in_flight);
        route.report(index, true);
        let (failure, kind, message) = failure;
        let returned = take_body();
        let body_ready = counter.is_none() || full.is_some() || returned.is_some();
        if body_ready && budget.allows(kind, tried.as_slice().len()) {
            debug!(upstream = %upstream.label, error = %message, "attempt failed; trying another upstream");
            body = returned;
            continue;
        }
        ctx.upstream_latency = sent_at.elapsed();
        return Err(Answer::failure(failure, message));
    }
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
