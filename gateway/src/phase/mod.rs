//! The phases of a call, in order. Each is a module with a narrow interface: it reads and
//! writes the call's one context ([`Ctx`]) and returns a [`Decision`] — go on (`Ok`), or
//! answer now (`Err(Answer)`). [`crate::proxy::handle`] is the short list of phase calls; the
//! record is built from the context once, when the call ends ([`crate::recorder`]), whatever
//! phase ended it. Pingora's `ProxyHttp` is the model (`request_filter`, `upstream_peer`,
//! `upstream_request_filter`, `response_filter`, `logging`).
//!
//! | # | phase | module | what lives there |
//! | --- | --- | --- | --- |
//! | 1 | early filter | [`filter`] | path normalized once (400 `bad_path`); the gateway's local endpoints (answered before routing); route lookup (404 / 405) |
//! | 1c | version | [`version::choose`] | an API family's version: path segment, header, query parameter, default (404 `unknown_version`, 400 `bad_version`, 410 `retired`); a public API's canary split by address |
//! | 2 | authenticate | [`authenticate`] | API key, HTTP Basic, JWT, mTLS client certificate (one arm per method) |
//! | 2b | canary | [`version::canary`] | a call that named no version moves to the canary version when its client's sticky bucket says so (before authorize) |
//! | 3 | authorize | [`authorize`] | client bars (suspended, validity, service hours), IP allowlist, grants by group or approved product |
//! | 4 | limits | [`limits`] | TPS bucket, calendar quotas, product quotas (`take`, pure given the clock); the VIP admission gate (`admit`, async; gives the counts back when it refuses) |
//! | 0 | trace | [`crate::trace::begin`] | the caller's W3C `traceparent` continued or a trace started, the call's own span id (first, so refused calls are traced too; `[gateway] tracing`) |
//! | 0 | site deny list | [`request::site`] | the site's `ip_deny`, before the path is read (the gateway's own endpoints too) |
//! | 1b | screen | [`request::screen`] | the API's deny list; CORS (preflights answered: they carry no credentials) |
//! | 5 | request policies | [`request::policies`] | the client's deny list, the API's rate, the body limit (and the body read whole when a policy must see it), message checks, signatures, transaction tokens, idempotency (see [`crate::policy`]) |
//! | 6 | upstream | [`upstream`] | the upstream request (hop-by-hop out, `X-Forwarded-*`, `Host`, `X-Request-Id`, `traceparent` with the gateway's span, credentials out, client header in, target rewritten); attempts and retries; upgrades asked for |
//! | 7 | response | [`response`] | hop-by-hop out, `X-Request-Id`, captured headers; a `101` becomes a tunnel; the gateway's own JSON answers |
//! | 8 | record | [`crate::recorder`] | `Call`'s `Drop`: the record from the context, on every exit path |
//!
//! A public API (`auth` empty) skips 2–4 but the gate.

pub(crate) mod authenticate;
pub(crate) mod authorize;
pub(crate) mod ctx;
pub(crate) mod filter;
pub(crate) mod limits;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod upstream;
pub(crate) mod version;

use std::borrow::Cow;

use gatewatch_model::Outcome;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

use crate::access::refusal::Refused;
pub(crate) use ctx::{Ctx, Peer, CLIENT_CLOSED_STATUS};

/// What a phase decided: go on (`Ok`, with what the phase found), or answer now.
pub(crate) type Decision<T = ()> = Result<T, Answer>;

/// How a request policy ends a call early: refused with the gateway's JSON error, or
/// answered without the upstream (a CORS preflight, an idempotent repeat's first answer).
#[derive(Debug)]
pub(crate) enum Stop {
    Refuse(Answer),
    Reply(Box<Reply>),
}

impl From<Answer> for Stop {
    fn from(a: Answer) -> Stop {
        Stop::Refuse(a)
    }
}

/// An answer a policy makes whole (not an error): sent as is, with `X-Request-Id` and the
/// call's answer headers added; recorded with `status` and `outcome`.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
    pub outcome: Outcome,
}

/// An answer the gateway makes itself, ending the call: `{"error":{"code","message"}}` as
/// JSON with `X-Request-Id`. The record gets the status, the outcome and `code: detail`.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub outcome: Outcome,
    /// Stable, part of the API (see the crate doc's tables).
    pub code: &'static str,
    /// What the client is told.
    pub told: Cow<'static, str>,
    /// What the record keeps, when it says more than `told` (an upstream's address...).
    pub detail: Option<String>,
    /// Headers of the answer (`Allow`, `Retry-After`, `WWW-Authenticate`...).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl From<Refused> for Answer {
    fn from(r: Refused) -> Answer {
        let refusal = r.refusal;
        let mut headers = r.headers;
        if let Some(secs) = refusal.retry_after() {
            headers.push((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if refusal.outcome() == Outcome::RefusedAuth
            && !headers.iter().any(|(n, _)| n == header::WWW_AUTHENTICATE)
        {
            headers.push((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatewatch\", Bearer, ApiKey"),
            ));
        }
        Answer {
            status: refusal.status(),
            outcome: refusal.outcome(),
            code: refusal.code(),
            told: refusal.message(),
            detail: r.detail,
            headers,
        }
    }
}

impl Answer {
    /// A refusal of a request policy: `told` is what the client reads and the record keeps.
    pub fn new(
        status: StatusCode,
        outcome: Outcome,
        code: &'static str,
        told: impl Into<Cow<'static, str>>,
    ) -> Answer {
        Answer {
            status,
            outcome,
            code,
            told: told.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    /// The gateway's own failure; `detail` is recorded, and told unless the failure has a
    /// fixed message for clients.
    pub fn failure(failure: Failure, detail: String) -> Answer {
        let (status, outcome, code) = failure.parts();
        let (told, detail) = match failure.client_message() {
            Some(told) => (Cow::Borrowed(told), Some(detail)),
            None => (Cow::Owned(detail), None),
        };
        Answer {
            status,
            outcome,
            code,
            told,
            detail,
            headers: Vec::new(),
        }
    }

    /// The same answer with a header added.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Answer {
        self.headers.push((name, value));
        self
    }
}

/// The errors the gateway answers itself (refusals aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::refusal::Refusal;

    #[test]
    fn a_refusal_answers_with_its_headers_and_its_own_challenge_replaces_the_default() {
        let a = Answer::from(Refused::from(Refusal::AuthRequired));
        assert_eq!((a.status.as_u16(), a.code), (401, "auth_required"));
        assert_eq!(
            a.headers,
            vec![(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatewatch\", Bearer, ApiKey")
            )]
        );
        let bearer = HeaderValue::from_static("Bearer error=\"invalid_token\"");
        let a = Answer::from(
            Refused::from(Refusal::InvalidCredentials)
                .header(header::WWW_AUTHENTICATE, bearer.clone()),
        );
        assert_eq!(a.headers, vec![(header::WWW_AUTHENTICATE, bearer)]);
        let a = Answer::from(Refused::from(Refusal::RateLimited { retry_after: 3 }));
        assert_eq!(a.status.as_u16(), 429);
        assert_eq!(
            a.headers,
            vec![(header::RETRY_AFTER, HeaderValue::from(3u64))]
        );
    }

    #[test]
    fn upstream_failures_tell_no_address_but_record_it() {
        let a = Answer::failure(
            Failure::Unreachable,
            "cannot connect to http://10.0.0.5:1".into(),
        );
        assert_eq!(a.told, "the upstream could not be reached");
        assert_eq!(
            a.detail.as_deref(),
            Some("cannot connect to http://10.0.0.5:1")
        );
        let a = Answer::failure(Failure::NoRoute, "no route for path '/x'".into());
        assert_eq!((a.status.as_u16(), a.code), (404, "no_route"));
        assert_eq!(
            (a.told.as_ref(), a.detail),
            ("no route for path '/x'", None)
        );
    }
}
