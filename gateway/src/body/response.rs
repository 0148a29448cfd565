//! The body sent to the client, which ends the call (see the module doc of [`crate::body`]).

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::recorder::{BodyEnd, Call};
use crate::upstream::pool::Lease;

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
                    // The last frame of a body of known length: the record is made (and
                    // journalled) now, before hyper writes it — a killed gateway keeps the
                    // record of every answer a client got whole (see `journal.rs`).
                    if this.is_end_stream() {
                        this.end(BodyEnd::Complete);
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
