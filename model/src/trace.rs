//! W3C Trace Context ids as a call's record carries them (issue 18).
//!
//! The gateway accepts a caller's `traceparent` or starts a trace, takes a span id of its own
//! for the call, and forwards `traceparent` with that span as the parent. The record keeps the
//! trace id, the gateway's span id and the caller's span id (the parent), each as lowercase hex.

use std::fmt;

/// The ids of one call's span. All-zero ids are invalid in W3C Trace Context and never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceIds {
    pub trace_id: [u8; 16],
    /// The gateway's own span for this call.
    pub span_id: [u8; 8],
    /// The caller's span (from its `traceparent`); `None` when the gateway started the trace.
    pub parent_span_id: Option<[u8; 8]>,
    /// The `sampled` flag as received (or as the gateway decided when it started the trace).
    pub sampled: bool,
}

/// Lowercase hex of `bytes`.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Longest `trace_id` a record may carry (32 hex digits) and longest span id (16).
pub const TRACE_ID_HEX: usize = 32;
pub const SPAN_ID_HEX: usize = 16;

/// Whether `s` is empty or exactly `len` lowercase hex digits, not all zero (what a record's
/// `trace_id`, `span_id` and `parent_span_id` must be).
pub fn valid_hex_id(s: &str, len: usize) -> bool {
    s.is_empty()
        || (s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && s.bytes().any(|b| b != b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        assert_eq!(Hex(&[0x0a, 0xff]).to_string(), "0aff");
        assert!(valid_hex_id("", 32));
        assert!(valid_hex_id("4bf92f3577b34da6a3ce929d0e0e4736", 32));
        assert!(!valid_hex_id("4BF92F3577B34DA6A3CE929D0E0E4736", 32));
        assert!(!valid_hex_id("00000000000000000000000000000000", 32));
        assert!(!valid_hex_id("00f067aa0ba902b7", 32));
        assert!(valid_hex_id("00f067aa0ba902b7", 16));
    }
}
