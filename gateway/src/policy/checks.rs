//! Message checks (`checks`, `check_mode`, `check_headers`): SQL injection and XSS looked for
//! in path segments, query values, form fields, JSON string values and the chosen headers.
//! Block: 403 `blocked`, outcome `refused_blocked`; monitor: proxied. Findings go to
//! [`crate::phase::Ctx::findings`] as `check:where` (`sqli:query.q`).
//!
//! (Stub of the foundation.)

use gatewatch_model::ApiSpec;
use http::request::Parts;

use crate::body::client::ClientBody;
use crate::phase::{Ctx, Stop};

#[derive(Debug)]
pub(crate) struct Compiled {}

impl Compiled {
    /// The body is scanned when it may hold values (JSON, a form).
    pub fn needs_body(&self, _head: &Parts) -> bool {
        false
    }
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    (!spec.checks.is_empty()).then_some(Compiled {})
}

/// Scans the call's values.
pub(crate) fn run(
    _checks: &Compiled,
    _head: &Parts,
    _body: &ClientBody,
    _ctx: &mut Ctx,
) -> Result<(), Stop> {
    Ok(())
}
