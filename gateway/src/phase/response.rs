//! Phase 7, response: the head the client gets, and the body that ends the call.
//!
//! - the upstream's answer: hop-by-hop headers out, `X-Request-Id` in, the headers captured
//!   when the API's policy keeps them; the body streams through [`ResponseBody`], which owns
//!   the [`Call`] and so emits the record when it ends;
//! - a `101 Switching Protocols` the client asked for: the two connections become a tunnel
//!   ([`crate::tunnel`]), recorded when it ends; one it did not ask for is a 502;
//! - the gateway's own answers ([`Answer`], a local endpoint's [`LocalAnswer`]): JSON errors
//!   with `X-Request-Id`, recorded with their status, outcome and `code: detail`.

use std::borrow::Cow;

use gatewatch_model::Outcome;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use hyper::upgrade::OnUpgrade;

use super::filter::{self, LocalAnswer};
use super::upstream::Answered;
use super::{Answer, Failure, Reply};
use crate::body::response::ResponseBody;
use crate::headers::{self, X_REQUEST_ID};
use crate::recorder::Call;
use crate::tunnel::Tunnels;

/// The upstream's answer on its way to the client (see the module doc).
pub(crate) fn respond(tunnels: &Tunnels, mut call: Call, up: Answered) -> Response<ResponseBody> {
    if up.response.status() == StatusCode::SWITCHING_PROTOCOLS {
        return switch(tunnels, call, up);
    }
    let (mut parts, body) = up.response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(X_REQUEST_ID.clone(), call.request_id.clone());
    call.answer_head(parts.status, &mut parts.headers);
    let status = parts.status.as_u16();
    call.answered(status, Outcome::from_upstream_status(status));
    call.capture_response_headers(&parts.headers);
    Response::from_parts(parts, ResponseBody::upstream(body, call, up.lease))
}

/// The upstream answered `101 Switching Protocols`: the client gets the switch and the two
/// connections become a tunnel, recorded when it ends (see [`crate::tunnel`]). A switch the
/// client did not ask for is an upstream failure (502): the client would not know what to
/// speak.
fn switch(tunnels: &Tunnels, mut call: Call, up: Answered) -> Response<ResponseBody> {
    let (mut parts, _no_body) = up.response.into_parts();
    let upstream = parts.extensions.remove::<OnUpgrade>();
    // The upstream's connection is the tunnel's now (or done): never back to the pool.
    drop(up.lease);
    let (Some(upgrade), Some(upstream)) = (up.upgrade, upstream) else {
        let message = "the upstream switched protocols (101) unasked".to_string();
        return answer(call, Answer::failure(Failure::Upstream, message));
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
    parts
        .headers
        .insert(X_REQUEST_ID.clone(), call.request_id.clone());
    let status = parts.status.as_u16();
    call.answered(status, Outcome::from_upstream_status(status));
    call.capture_response_headers(&parts.headers);
    // A tunnel may stay open for hours and must not keep calls out at the gate.
    call.admission = None;
    tokio::spawn(crate::tunnel::run(
        call,
        upgrade.client,
        upstream,
        tunnels.clone(),
        upgrade.place,
    ));
    Response::from_parts(parts, ResponseBody::full(bytes::Bytes::new(), None))
}

/// The gateway's own answer: `{"error":{"code","message"}}`, JSON, with the request id; the
/// call records the status, the outcome and `code: detail` as its error (the code leads, so
/// reports can count refusals and failures by reason).
pub(crate) fn answer(mut call: Call, answer: Answer) -> Response<ResponseBody> {
    let told = serde_json::json!({ "error": { "code": answer.code, "message": &answer.told } });
    let body = serde_json::to_vec(&told).unwrap_or_default();
    let detail = answer.detail.as_deref().unwrap_or(&answer.told);
    call.failed(
        answer.status.as_u16(),
        answer.outcome,
        Cow::Owned(format!("{}: {detail}", answer.code)),
    );
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in answer.headers {
        h.append(name, value);
    }
    made(call, answer.status, h, body.into())
}

/// An answer a request policy made whole (a preflight's, a replayed first answer).
pub(crate) fn reply(mut call: Call, reply: Reply) -> Response<ResponseBody> {
    call.answered(reply.status.as_u16(), reply.outcome);
    made(call, reply.status, reply.headers, reply.body)
}

/// An answer the gateway made: the request id and the call's answer headers (CORS...) added.
fn made(
    mut call: Call,
    status: StatusCode,
    mut headers: HeaderMap,
    body: bytes::Bytes,
) -> Response<ResponseBody> {
    headers.insert(X_REQUEST_ID.clone(), call.request_id.clone());
    call.answer_head(status, &mut headers);
    let mut resp = Response::new(ResponseBody::full(body, Some(call)));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// A local endpoint's answer, as sent; the call records it.
pub(crate) fn local(mut call: Call, mut answer: LocalAnswer) -> Response<ResponseBody> {
    filter::local_answered(&mut call, &mut answer);
    let (parts, body) = answer.response.into_parts();
    Response::from_parts(parts, ResponseBody::full(body, Some(call)))
}
