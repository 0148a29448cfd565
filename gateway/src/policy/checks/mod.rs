//! Message checks (`checks`, `check_mode`, `check_headers`): SQL injection and XSS looked for
//! in path segments, query values, form fields, JSON string values and the chosen headers,
//! with the detectors of `gatewatch-detect` (libinjection's methods, ported).
//! Block: 403 `blocked`, outcome `refused_blocked`; monitor: proxied. Findings go to
//! [`crate::phase::Ctx::findings`] as `check:where` (`sqli:query.q`, `xss:body.items[2].note`,
//! `sqli:path[1]`, `xss:header.referer`).
//!
//! Bounds: the body is read whole only when it is JSON or a form (any other body streams
//! unscanned), within the API's `max_body_bytes` or [`crate::policy::POLICY_BODY_MAX`]; JSON
//! nests at most [`values::JSON_DEPTH`] deep (a deeper or malformed JSON body is scanned as
//! one text instead, so it cannot hide a value); at most [`MAX_FINDINGS`] findings are kept.
//! Each value costs time linear in its length.

mod values;

use gatewatch_model::policy::{Check, CheckMode};
use gatewatch_model::{ApiSpec, Outcome};
use http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::request::Parts;
use http::StatusCode;

use crate::body::client::ClientBody;
use crate::phase::{Answer, Ctx, Stop};

pub(crate) use values::BodyKind;

/// The refusal's `error.code`.
pub(crate) const CODE: &str = "blocked";
/// Findings kept per call (the record takes 32 notes).
pub(crate) const MAX_FINDINGS: usize = 16;

#[derive(Debug)]
pub(crate) struct Compiled {
    sqli: bool,
    xss: bool,
    block: bool,
    headers: Vec<HeaderName>,
}

impl Compiled {
    /// The body is scanned (so read whole) when it has bytes and is JSON or a form.
    pub fn needs_body(&self, head: &Parts) -> bool {
        let h = &head.headers;
        let has_body = h.contains_key(TRANSFER_ENCODING)
            || h.get(CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
        has_body && BodyKind::of(h.get(CONTENT_TYPE)).is_some()
    }
}

pub(crate) fn compile(spec: &ApiSpec) -> Option<Compiled> {
    if spec.checks.is_empty() {
        return None;
    }
    // The tables load now, when the router is built, not on the first call.
    gatewatch_detect::warm();
    Some(Compiled {
        sqli: spec.checks.contains(&Check::Sqli),
        xss: spec.checks.contains(&Check::Xss),
        block: spec.check_mode == CheckMode::Block,
        // Validated as lower-case header names by the model; one that is not is skipped.
        headers: spec
            .check_headers
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            .collect(),
    })
}

/// What a scan found: the check and where.
pub(crate) struct Finding {
    pub check: Check,
    pub place: String,
}

/// Runs the detectors over one value; `Some` with the first that fires.
pub(crate) fn detect(checks: &Compiled, value: &[u8]) -> Option<Check> {
    if value.is_empty() {
        return None;
    }
    if checks.sqli && gatewatch_detect::sqli(value).is_some() {
        return Some(Check::Sqli);
    }
    if checks.xss && gatewatch_detect::xss(value) {
        return Some(Check::Xss);
    }
    None
}

/// Scans the call's values; blocks, or records and lets through.
pub(crate) fn run(
    checks: &Compiled,
    head: &Parts,
    body: &ClientBody,
    ctx: &mut Ctx,
) -> Result<(), Stop> {
    let body = body
        .bytes()
        .map(|b| (b.as_ref(), BodyKind::of(head.headers.get(CONTENT_TYPE))));
    let found = values::scan(checks, head, body, checks.block);
    if found.is_empty() {
        return Ok(());
    }
    for f in &found {
        ctx.findings.push(format!("{}:{}", f.check.name(), f.place));
    }
    if !checks.block {
        return Ok(());
    }
    let first = &found[0];
    Err(Stop::Refuse(Answer::new(
        StatusCode::FORBIDDEN,
        Outcome::RefusedBlocked,
        CODE,
        format!(
            "blocked by the API's message checks: {} found in {}",
            first.check.name(),
            first.place
        ),
    )))
}

#[cfg(test)]
mod tests;
