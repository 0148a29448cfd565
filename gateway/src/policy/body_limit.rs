//! The body limit (`max_body_bytes`): 413 `body_too_large` (outcome
//! `refused_bad_request`) for a declared length over it before anything is read; a streamed
//! (chunked) body is cut off before a byte past it reaches the upstream (see
//! [`crate::body::client::ClientBody::Streamed`]).

use gatewatch_model::ApiSpec;

/// The error code of a body over the limit.
pub(crate) const CODE: &str = "body_too_large";

#[derive(Debug)]
pub(crate) struct Compiled {
    pub max: u64,
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    spec.max_body_bytes.map(|max| Compiled { max })
}
