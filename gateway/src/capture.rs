//! Capture policy: what of a call goes into its record beyond the summary, under the matched
//! API's [`CapturePolicy`] (`none`, `headers`, `bodies { max_bytes }`).
//!
//! On the proxy's path only copies are taken, and only what the policy asks:
//! - `headers`: the request headers as the client sent them (before hop-by-hop removal and
//!   `X-Forwarded-*`) and the response headers as sent to the client — a clone of the
//!   `HeaderMap` (its values are reference-counted);
//! - `bodies`: also a [`BodyTap`] on each body that copies the first `max_bytes` as the frames
//!   go by. Nothing waits for a body and no body is held back: the frame is forwarded as it
//!   came, and the copy stops growing at `max_bytes` (at most 64 KiB per body, see
//!   `gatewatch_model::MAX_CAPTURE_BYTES`). Copies, not `Bytes` slices: a slice would keep the
//!   whole network buffer alive while the record waits in the queue.
//!
//! All masking happens later, in [`fill`], on the shipper's side (see [`crate::mask`]). The
//! query and the path are masked whatever the policy.
//!
//! Memory: a call's copies live until its record is built, and up to `queue_capacity` calls
//! may wait in the record queue. So the bytes held by all body copies of the process are
//! capped at [`CAPTURE_BUDGET`]: past it, taps stop copying (a body whose copy could not
//! start reads `[body not captured: the capture budget is in use]`, one cut short is marked
//! truncated) until records drain.

use std::sync::atomic::{AtomicUsize, Ordering};

use gatewatch_model::api::CapturePolicy;
use gatewatch_model::Header;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;

use crate::mask::{BodyIn, Masker};

/// Most bytes that body copies of calls not yet recorded may hold, all together.
pub(crate) const CAPTURE_BUDGET: usize = 64 * 1024 * 1024;

/// Bytes held by body copies now (process-wide: a budget, not an exact figure per gateway).
static HELD: AtomicUsize = AtomicUsize::new(0);

/// The first `limit` bytes of a body, copied as it streams, and how many bytes went by.
#[derive(Debug)]
pub(crate) struct BodyTap {
    buf: Vec<u8>,
    limit: usize,
    seen: u64,
    /// Copying stopped because [`CAPTURE_BUDGET`] was reached.
    over_budget: bool,
}

impl BodyTap {
    pub fn new(limit: usize) -> BodyTap {
        BodyTap {
            buf: Vec::new(),
            limit,
            seen: 0,
            over_budget: false,
        }
    }

    /// One frame went by.
    pub fn push(&mut self, data: &[u8]) {
        self.seen += data.len() as u64;
        let take = (self.limit - self.buf.len()).min(data.len());
        if take == 0 || self.over_budget {
            return;
        }
        // Relaxed: a budget; a few bytes over it under a race do no harm.
        if HELD.fetch_add(take, Ordering::Relaxed) + take > CAPTURE_BUDGET {
            HELD.fetch_sub(take, Ordering::Relaxed);
            self.over_budget = true;
            return;
        }
        if self.buf.is_empty() {
            self.buf.reserve_exact(self.limit.min(data.len().max(1024)));
        }
        self.buf.extend_from_slice(&data[..take]);
    }

    fn input<'a>(&'a self, headers: Option<&'a HeaderMap>) -> BodyIn<'a> {
        let header = |name| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        BodyIn {
            bytes: &self.buf,
            total: self.seen,
            content_type: header(CONTENT_TYPE),
            content_encoding: header(CONTENT_ENCODING),
            limit: self.limit,
            over_budget: self.over_budget,
        }
    }
}

impl Drop for BodyTap {
    fn drop(&mut self) {
        HELD.fetch_sub(self.buf.len(), Ordering::Relaxed);
    }
}

/// What one call captures; lives in its `CallEvent` only when the policy asks for something.
#[derive(Debug, Default)]
pub(crate) struct Captures {
    /// `max_bytes` of each body, when bodies are captured.
    pub body_limit: Option<usize>,
    pub request_headers: Option<HeaderMap>,
    pub response_headers: Option<HeaderMap>,
    pub request_body: Option<BodyTap>,
    pub response_body: Option<BodyTap>,
}

impl Captures {
    /// `None` when the policy keeps only the summary.
    pub fn for_policy(policy: &CapturePolicy) -> Option<Box<Captures>> {
        let body_limit = match policy {
            CapturePolicy::None => return None,
            CapturePolicy::Headers => None,
            CapturePolicy::Bodies { max_bytes } => Some(*max_bytes as usize),
        };
        Some(Box::new(Captures {
            body_limit,
            response_body: body_limit.map(BodyTap::new),
            ..Captures::default()
        }))
    }
}

/// The captured parts of a record, masked.
#[derive(Default)]
pub(crate) struct Captured {
    pub request_headers: Vec<Header>,
    pub response_headers: Vec<Header>,
    pub request_body: String,
    pub response_body: String,
}

/// Writes the captured headers and bodies into `rec`, masked.
pub(crate) fn fill(rec: &mut Captured, cap: &Captures, m: &Masker<'_>) {
    if let Some(h) = &cap.request_headers {
        rec.request_headers = m.headers(h);
    }
    if let Some(h) = &cap.response_headers {
        rec.response_headers = m.headers(h);
    }
    if let Some(t) = &cap.request_body {
        rec.request_body = m.body(t.input(cap.request_headers.as_ref()));
    }
    if let Some(t) = &cap.response_body {
        rec.response_body = m.body(t.input(cap.response_headers.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tap_keeps_the_first_bytes_and_counts_the_rest() {
        let mut t = BodyTap::new(5);
        t.push(b"abc");
        t.push(b"defgh");
        t.push(b"ij");
        assert_eq!(t.buf, b"abcde");
        assert_eq!(t.seen, 10);
        let input = t.input(None);
        assert_eq!((input.bytes.len(), input.total), (5, 10));
    }

    #[test]
    fn taps_stop_copying_past_the_budget_and_give_it_back_when_dropped() {
        let big = vec![b'x'; 1024 * 1024];
        let mut taps: Vec<BodyTap> = Vec::new();
        // Other tests of this process hold little; 80 MiB of taps must pass the budget.
        for _ in 0..80 {
            let mut t = BodyTap::new(big.len());
            t.push(&big);
            taps.push(t);
        }
        let stopped = taps.iter().filter(|t| t.over_budget).count();
        assert!(stopped >= 16, "{stopped} taps stopped");
        assert!(taps.iter().all(|t| t.buf.is_empty() == t.over_budget));
        taps.clear();
        let mut t = BodyTap::new(10);
        t.push(b"0123456789");
        assert!(!t.over_budget);
    }

    #[test]
    fn policies() {
        assert!(Captures::for_policy(&CapturePolicy::None).is_none());
        let h = Captures::for_policy(&CapturePolicy::Headers).unwrap();
        assert!(h.body_limit.is_none() && h.response_body.is_none());
        let b = Captures::for_policy(&CapturePolicy::Bodies { max_bytes: 64 }).unwrap();
        assert_eq!(b.body_limit, Some(64));
        assert!(b.response_body.is_some());
    }
}
