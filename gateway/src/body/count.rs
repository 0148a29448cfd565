//! The request body's byte count and the capture of its first bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::capture::BodyTap;

/// Bytes of a request body read so far, and whether reading it from the client failed (the
/// client went away mid-upload). Shared because the body streams in the upstream
/// connection's task while the call waits for the response.
#[derive(Debug, Default)]
pub(crate) struct BodyCount {
    count: AtomicU64,
    /// The capture of the body's first bytes, when the API's policy asks for bodies (set once,
    /// before the body is first polled; the lock is only ever taken by that one poller and,
    /// at the call's end, by the recorder).
    tap: OnceLock<Mutex<BodyTap>>,
}

/// The top bits of the count mark a failed read; no body comes near 2^61 bytes.
const CLIENT_FAILED: u64 = 1 << 63;
/// With [`CLIENT_FAILED`]: the body did not parse (the client's mistake, not its absence).
const MALFORMED: u64 = 1 << 62;
/// With [`CLIENT_FAILED`]: the body grew past the API's `max_body_bytes` and was cut there.
const TOO_LARGE: u64 = 1 << 61;
const FLAGS: u64 = CLIENT_FAILED | MALFORMED | TOO_LARGE;

impl BodyCount {
    pub(crate) fn add(&self, data: &[u8]) {
        // Relaxed: one writer; readers only need the value eventually (at the call's end).
        self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(tap) = self.tap.get() {
            if let Ok(mut t) = tap.lock() {
                t.push(data);
            }
        }
    }

    pub(super) fn mark_client_failed(&self, e: &hyper::Error) {
        let bits = if malformed(e) {
            CLIENT_FAILED | MALFORMED
        } else {
            CLIENT_FAILED
        };
        self.count.fetch_or(bits, Ordering::Relaxed);
    }

    /// The body was cut at the API's `max_body_bytes` (see [`crate::policy::body_limit`]).
    pub(super) fn mark_too_large(&self) {
        self.count
            .fetch_or(CLIENT_FAILED | TOO_LARGE, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.count.load(Ordering::Relaxed) & !FLAGS
    }

    pub fn client_failed(&self) -> bool {
        self.count.load(Ordering::Relaxed) & CLIENT_FAILED != 0
    }

    /// The read failed because the body does not parse (a bad chunk size or framing).
    pub fn malformed(&self) -> bool {
        self.count.load(Ordering::Relaxed) & MALFORMED != 0
    }

    /// The upload was cut at the body limit.
    pub fn too_large(&self) -> bool {
        self.count.load(Ordering::Relaxed) & TOO_LARGE != 0
    }

    /// Starts copying the first `limit` bytes (capture policy `bodies`).
    pub fn start_tap(&self, limit: usize) {
        let _ = self.tap.set(Mutex::new(BodyTap::new(limit)));
    }

    /// The copy so far, if one was started.
    pub fn take_tap(&self) -> Option<BodyTap> {
        let tap = self.tap.get()?;
        let mut t = tap.lock().ok()?;
        Some(std::mem::replace(&mut *t, BodyTap::new(0)))
    }
}

/// Does a body read error say the body is malformed? hyper reports bad chunked framing as an
/// I/O error of kind `InvalidInput` or `InvalidData` under its body error; a client that went
/// away shows as `UnexpectedEof`, a reset, or an incomplete message.
pub(super) fn malformed(e: &hyper::Error) -> bool {
    if e.is_parse() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            );
        }
        source = s.source();
    }
    false
}
