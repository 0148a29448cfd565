//! The body limit (`max_body_bytes`): 413 `body_too_large` (outcome `refused_bad_request`).
//!
//! - A declared length (`Content-Length`) over the limit is refused before a byte of the body
//!   is read (and so before `100 Continue` is sent to a client that waits for it).
//! - A body without one (chunked) streams to the upstream through
//!   [`crate::body::request::RequestBody`], which counts it and ends the upload with an error
//!   at the frame that would cross the limit: the upstream sees at most `max_body_bytes`
//!   bytes and then a broken request, never a byte past the limit, and the client gets 413
//!   (unless the upstream answered before the body was over, see [`crate::phase::upstream`]).
//! - A body a policy reads whole (checks, signatures, idempotency) is read up to the same
//!   limit ([`crate::body::client::read_whole`]).

use gatewatch_model::{ApiSpec, Outcome};
use http::StatusCode;
use http_body::Body as _;
use hyper::body::Incoming;

use crate::phase::{Answer, Stop};

/// The error code of a body over the limit.
pub(crate) const CODE: &str = "body_too_large";

#[derive(Debug)]
pub(crate) struct Compiled {
    pub max: u64,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.max_body_bytes.map(|max| Compiled { max })
}

/// The answer to a body over `limit` bytes.
pub(crate) fn too_large(limit: u64) -> Answer {
    Answer::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Outcome::RefusedBadRequest,
        CODE,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// Refuses a body whose declared length is over `limit`, before reading it.
pub(crate) fn declared(body: &Incoming, limit: u64) -> Result<(), Stop> {
    if body.size_hint().lower() > limit {
        return Err(Stop::Refuse(too_large(limit)));
    }
    Ok(())
}
