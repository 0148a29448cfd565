//! Streaming bodies with byte counts: nothing here buffers a whole body.
//!
//! - [`RequestBody`]: the client's request body on its way upstream, counted frame by frame
//!   (and its first bytes copied when the API captures bodies, see [`crate::capture`]).
//!   If it is dropped unpolled (the connection to the upstream could not be made), it hands
//!   the untouched body back so the call can try the next upstream.
//! - [`ResponseBody`]: the upstream's (or the gateway's own) response on its way to the
//!   client. It owns the call's [`Call`] (which copies the first bytes when the API captures
//!   bodies) and ends it — and so emits the record — when the last
//!   frame is out, when the upstream body fails, or when hyper drops it early (client gone).
//!   It also holds the upstream connection's [`Lease`]: back to its pool when the upstream
//!   body has ended, dropped (the connection closed) if the body fails or is dropped early.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::capture::BodyTap;
use crate::recorder::{BodyEnd, Call};
use crate::upstream::pool::Lease;

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

/// The top bit of the count marks a failed read; no body comes near 2^62 bytes.
const CLIENT_FAILED: u64 = 1 << 63;
/// With [`CLIENT_FAILED`]: the body did not parse (the client's mistake, not its absence).
const MALFORMED: u64 = 1 << 62;

impl BodyCount {
    fn add(&self, data: &[u8]) {
        // Relaxed: one writer; readers only need the value eventually (at the call's end).
        self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(tap) = self.tap.get() {
            if let Ok(mut t) = tap.lock() {
                t.push(data);
            }
        }
    }

    fn mark_client_failed(&self, e: &hyper::Error) {
        let bits = if malformed(e) {
            CLIENT_FAILED | MALFORMED
        } else {
            CLIENT_FAILED
        };
        self.count.fetch_or(bits, Ordering::Relaxed);
    }

    pub fn bytes(&self) -> u64 {
        self.count.load(Ordering::Relaxed) & !(CLIENT_FAILED | MALFORMED)
    }

    pub fn client_failed(&self) -> bool {
        self.count.load(Ordering::Relaxed) & CLIENT_FAILED != 0
    }

    /// The read failed because the body does not parse (a bad chunk size or framing).
    pub fn malformed(&self) -> bool {
        self.count.load(Ordering::Relaxed) & MALFORMED != 0
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
fn malformed(e: &hyper::Error) -> bool {
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

/// The request body sent to an upstream.
#[derive(Debug)]
pub(crate) struct RequestBody {
    inner: Option<Incoming>,
    counter: Option<Arc<BodyCount>>,
    /// Set until the first poll: where to return the body if it is dropped unpolled.
    give_back: Option<oneshot::Sender<Incoming>>,
}

impl RequestBody {
    /// No body at all (e.g. a GET): nothing to count or give back.
    pub fn empty() -> RequestBody {
        RequestBody {
            inner: None,
            counter: None,
            give_back: None,
        }
    }

    /// Wraps a client's body; `give_back` receives it again if it is dropped unpolled.
    pub fn new(
        inner: Incoming,
        counter: Arc<BodyCount>,
        give_back: Option<oneshot::Sender<Incoming>>,
    ) -> RequestBody {
        RequestBody {
            inner: Some(inner),
            counter: Some(counter),
            give_back,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Once polled, bytes may have left: the body can no longer be resent elsewhere.
        self.give_back = None;
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        if let Some(c) = &self.counter {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        c.add(d);
                    }
                }
                Some(Err(e)) => c.mark_client_failed(e),
                None => {}
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let (Some(tx), Some(inner)) = (self.give_back.take(), self.inner.take()) {
            // The receiver may be gone (call over): then the body just drops.
            let _ = tx.send(inner);
        }
    }
}

#[derive(Debug)]
enum Source {
    /// The connection's lease is `None` once released or dropped.
    Upstream(Incoming, Option<Lease>),
    /// A body the gateway made (error JSON, metrics); `None` once sent.
    Full(Option<Bytes>),
}

/// The body sent to the client; see the module doc.
pub(crate) struct ResponseBody {
    source: Source,
    call: Option<Call>,
    bytes: u64,
}

impl ResponseBody {
    /// The upstream's body, ending `call` when it ends and then returning its connection.
    pub(crate) fn upstream(body: Incoming, call: Call, lease: Lease) -> ResponseBody {
        ResponseBody {
            source: Source::Upstream(body, Some(lease)),
            call: Some(call),
            bytes: 0,
        }
    }

    /// A body made by the gateway; `call` is `None` for reserved paths (not recorded).
    pub(crate) fn full(data: impl Into<Bytes>, call: Option<Call>) -> ResponseBody {
        let data = data.into();
        ResponseBody {
            source: Source::Full((!data.is_empty()).then_some(data)),
            call,
            bytes: 0,
        }
    }

    fn end(&mut self, end: BodyEnd) {
        if let Some(call) = self.call.take() {
            call.body_ended(self.bytes, end);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = match &mut this.source {
            Source::Upstream(b, lease) => {
                let frame = ready!(Pin::new(b).poll_frame(cx));
                match &frame {
                    Some(Ok(_)) => {}
                    // Read to its end: the connection can take the next call.
                    None => {
                        if let Some(l) = lease.take() {
                            l.release();
                        }
                    }
                    // Broken mid-body: the connection goes with it.
                    Some(Err(_)) => *lease = None,
                }
                frame
            }
            Source::Full(data) => data.take().map(|d| Ok(Frame::data(d))),
        };
        match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    this.bytes += d.len() as u64;
                    if let Some(call) = &mut this.call {
                        call.tap_response(d);
                    }
                }
            }
            Some(Err(e)) => this.end(BodyEnd::UpstreamFailed(e.to_string())),
            None => this.end(BodyEnd::Complete),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Upstream(b, _) => b.is_end_stream(),
            Source::Full(d) => d.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Upstream(b, _) => b.size_hint(),
            Source::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Source::Upstream(b, lease) = &mut self.source {
            // hyper stops polling once `is_end_stream` says the body is all read (and never
            // polls it for HEAD, 204, 304): the connection is done with it. Otherwise the
            // upstream is still sending; the lease drops and the connection closes.
            if let Some(l) = lease.take().filter(|_| b.is_end_stream()) {
                l.release();
            }
        }
        if self.call.is_none() {
            return;
        }
        // hyper may drop a body without polling past its last frame once `is_end_stream`
        // says it is done, and never polls bodies of HEAD/204/304 answers.
        let done = self.is_end_stream() || self.call.as_ref().is_some_and(|c| c.no_body);
        self.end(if done {
            BodyEnd::Complete
        } else {
            BodyEnd::ClientGone
        });
    }
}
