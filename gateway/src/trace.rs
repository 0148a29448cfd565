//! W3C Trace Context for each call (issue 18): the caller's `traceparent` continued, or a trace
//! started here; the gateway's own span id for the call; `traceparent` forwarded upstream with
//! that span as the parent.
//!
//! - [`begin`] runs once, first thing in the proxy handler (before any phase can refuse), so a
//!   refused call is traceable too. It only reads the request: the captured request headers stay
//!   as the client sent them.
//! - [`outbound`] runs in the upstream phase on the headers the upstream gets: `traceparent`
//!   replaced by the gateway's, `tracestate` passed on untouched (when the caller's trace is
//!   continued and it is at most [`TRACESTATE_MAX`] bytes; otherwise dropped).
//!
//! What a caller's `traceparent` can do: choose the trace id (and the sampled flag) its call is
//! recorded under, and name its own span as the parent. What it cannot: choose the gateway's
//! span id, put anything but hex ids in the record, or reach the upstream unchanged. A header
//! that does not parse (wrong length, upper-case hex, version `ff`, all-zero ids, sent twice)
//! is ignored and a new trace is started, as W3C Trace Context says.
//!
//! With `[gateway] tracing = false` nothing here runs: both headers pass through as sent.

use gatewatch_model::trace::TraceIds;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::ids;

/// `traceparent` (W3C Trace Context).
pub(crate) static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub(crate) static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Longest `tracestate` passed on, all its header lines together: W3C Trace Context asks
/// every vendor to pass at least 512 characters; a longer one is dropped whole rather than
/// cut in the middle of an entry.
pub(crate) const TRACESTATE_MAX: usize = 512;

/// Length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_LEN: usize = 55;

/// The call's trace ids from the request's headers: the caller's trace continued (a new span
/// of ours under the caller's), or a new trace when it sent none or one that does not parse.
pub(crate) fn begin(headers: &HeaderMap) -> TraceIds {
    let mut values = headers.get_all(&TRACEPARENT).iter();
    let received = match (values.next(), values.next()) {
        (Some(v), None) => parse(v.as_bytes()),
        // Absent, or sent twice (which can't be one trace).
        _ => None,
    };
    let span_id = new_span_id();
    match received {
        Some(p) => TraceIds {
            trace_id: p.trace_id,
            span_id,
            parent_span_id: Some(p.parent_id),
            sampled: p.sampled,
        },
        None => TraceIds {
            trace_id: new_trace_id(),
            span_id,
            parent_span_id: None,
            // The gateway records every call, so the trace it starts is sampled.
            sampled: true,
        },
    }
}

/// The upstream's `traceparent` and `tracestate` for a call traced as `t` (see the module doc).
pub(crate) fn outbound(t: &TraceIds, headers: &mut HeaderMap) {
    headers.insert(TRACEPARENT.clone(), traceparent(t));
    let keep_state = t.parent_span_id.is_some()
        && headers
            .get_all(&TRACESTATE)
            .iter()
            .map(|v| v.len() + 1)
            .sum::<usize>()
            <= TRACESTATE_MAX + 1;
    if !keep_state {
        headers.remove(&TRACESTATE);
    }
}

/// `00-<trace id>-<span id>-<flags>` with the gateway's span as the parent.
pub(crate) fn traceparent(t: &TraceIds) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; TRACEPARENT_LEN];
    out[..3].copy_from_slice(b"00-");
    let mut at = 3;
    for b in &t.trace_id {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    out[at] = b'-';
    at += 1;
    for b in &t.span_id {
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    out[at..].copy_from_slice(if t.sampled { b"-01" } else { b"-00" });
    // Lower-case hex and dashes only: always a valid header value.
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("invalid"))
}

/// A `traceparent` that parses (see [`parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Received {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    sampled: bool,
}

/// Parses a `traceparent` as W3C Trace Context (level 1) says: version `00` is exactly 55
/// characters; a higher version (not `ff`) is read by its first 55, and anything after them
/// must start with `-`. Hex is lower case; all-zero ids are invalid. Only the sampled flag is
/// kept (other flags are set to zero when passed on).
fn parse(v: &[u8]) -> Option<Received> {
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_byte(&v[0..2])?;
    match version {
        0x00 if v.len() != TRACEPARENT_LEN => return None,
        0xff => return None,
        _ if v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' => return None,
        _ => {}
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
    }
    let mut parent_id = [0u8; 8];
    for (i, b) in parent_id.iter_mut().enumerate() {
        *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&v[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(Received {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// Two lower-case hex digits.
fn hex_byte(two: &[u8]) -> Option<u8> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

/// A random, non-zero trace id. Ids need uniqueness, not secrecy: they come from the same
/// per-thread generator as call ids (seeded from the OS once per thread, see [`ids`]).
fn new_trace_id() -> [u8; 16] {
    loop {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&ids::random_u64().to_le_bytes());
        id[8..].copy_from_slice(&ids::random_u64().to_le_bytes());
        if id != [0; 16] {
            return id;
        }
    }
}

/// A random, non-zero span id.
fn new_span_id() -> [u8; 8] {
    loop {
        let id = ids::random_u64().to_le_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::trace::Hex;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append((*n).clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_callers_trace_is_continued_under_a_span_of_the_gateways() {
        let t = begin(&headers(&[(&TRACEPARENT, CALLER)]));
        assert_eq!(
            Hex(&t.trace_id).to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            t.parent_span_id.map(|p| Hex(&p).to_string()).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_ne!(t.span_id, [0; 8]);
        assert_ne!(t.parent_span_id, Some(t.span_id));
        assert!(t.sampled);
        let sent = traceparent(&t);
        assert_eq!(
            sent.to_str().unwrap(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", Hex(&t.span_id))
        );
        let not_sampled = begin(&headers(&[(
            &TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )]));
        assert!(!not_sampled.sampled);
        assert!(traceparent(&not_sampled).to_str().unwrap().ends_with("-00"));
        // Flags other than sampled are set to zero when passed on.
        let other_flags = begin(&headers(&[(
            &TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
        )]));
        assert!(traceparent(&other_flags).to_str().unwrap().ends_with("-01"));
    }

    #[test]
    fn without_a_traceparent_a_new_sampled_trace_starts() {
        let a = begin(&HeaderMap::new());
        let b = begin(&HeaderMap::new());
        assert_eq!(a.parent_span_id, None);
        assert!(a.sampled);
        assert_ne!(a.trace_id, [0; 16]);
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.span_id, b.span_id);
        let text = traceparent(&a).to_str().unwrap().to_string();
        assert_eq!(parse(text.as_bytes()).map(|p| p.trace_id), Some(a.trace_id));
    }

    #[test]
    fn malformed_traceparents_are_ignored_and_a_new_trace_started() {
        let bad = [
            "",
            "garbage",
            // all-zero trace id, all-zero parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // upper-case hex
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            // version ff, bad version, version 00 with more after it
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // a later version must have a dash after the first 55
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            // short, wrong separators, bad flags
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for v in bad {
            assert_eq!(parse(v.as_bytes()), None, "{v:?}");
            let t = begin(&headers(&[(&TRACEPARENT, v)]));
            assert_eq!(t.parent_span_id, None, "{v:?}");
        }
        // A later version is read by its first 55 characters.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert!(parse(later.as_bytes()).is_some());
        // Two traceparent lines: not one trace.
        let twice = headers(&[(&TRACEPARENT, CALLER), (&TRACEPARENT, CALLER)]);
        assert_eq!(begin(&twice).parent_span_id, None);
    }

    #[test]
    fn upstream_gets_the_gateways_traceparent_and_a_bounded_tracestate() {
        let state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
        let mut h = headers(&[(&TRACEPARENT, CALLER), (&TRACESTATE, state)]);
        let t = begin(&h);
        outbound(&t, &mut h);
        assert_eq!(h.get_all(&TRACEPARENT).iter().count(), 1);
        assert_eq!(h[&TRACEPARENT], traceparent(&t));
        assert_eq!(h[&TRACESTATE], state);

        // Two tracestate lines within the bound pass as they are.
        let mut h = headers(&[
            (&TRACEPARENT, CALLER),
            (&TRACESTATE, "a=1"),
            (&TRACESTATE, "b=2"),
        ]);
        outbound(&begin(&h), &mut h);
        let lines: Vec<_> = h.get_all(&TRACESTATE).iter().collect();
        assert_eq!(lines, ["a=1", "b=2"]);

        // Longer than the bound: dropped whole.
        let long = format!("a={}", "x".repeat(TRACESTATE_MAX));
        let mut h = headers(&[(&TRACEPARENT, CALLER), (&TRACESTATE, &long)]);
        outbound(&begin(&h), &mut h);
        assert!(h.get(&TRACESTATE).is_none());
        let exactly = format!("a={}", "x".repeat(TRACESTATE_MAX - 2));
        let mut h = headers(&[(&TRACEPARENT, CALLER), (&TRACESTATE, &exactly)]);
        outbound(&begin(&h), &mut h);
        assert_eq!(h[&TRACESTATE], exactly.as_str());

        // A trace the gateway started has no state of the caller's to pass on.
        let mut h = headers(&[(&TRACEPARENT, "junk"), (&TRACESTATE, state)]);
        let t = begin(&h);
        outbound(&t, &mut h);
        assert!(h.get(&TRACESTATE).is_none());
        assert_eq!(h[&TRACEPARENT], traceparent(&t));
    }
}
