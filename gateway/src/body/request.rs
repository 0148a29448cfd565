//! The client's request body on its way upstream (see the module doc of [`crate::body`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use super::count::BodyCount;

/// Why the upload to the upstream stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// Reading the client's body failed (it went away, or its framing does not parse).
    #[error(transparent)]
    Client(#[from] hyper::Error),
    /// The body grew past the API's `max_body_bytes`; nothing past it was sent.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(u64),
}

/// The request body sent to an upstream.
#[derive(Debug)]
pub(crate) struct RequestBody {
    inner: Option<Incoming>,
    /// Most bytes sent of a streamed body (`max_body_bytes`); the frame that would cross it
    /// ends the upload with [`UploadError::TooLarge`] instead.
    limit: Option<u64>,
    /// A body the request policies read whole (counted when it was read).
    full: Option<Bytes>,
    counter: Option<Arc<BodyCount>>,
    /// Set until the first poll: where to return the body if it is dropped unpolled.
    give_back: Option<oneshot::Sender<Incoming>>,
}

impl RequestBody {
    /// No body at all (e.g. a GET): nothing to count or give back.
    pub fn empty() -> RequestBody {
        RequestBody {
            inner: None,
            limit: None,
            full: None,
            counter: None,
            give_back: None,
        }
    }

    /// A body read whole by the request policies.
    pub fn full(data: Bytes) -> RequestBody {
        RequestBody {
            inner: None,
            limit: None,
            full: (!data.is_empty()).then_some(data),
            counter: None,
            give_back: None,
        }
    }

    /// Wraps a client's body, cut past `limit` bytes; `give_back` receives it again if it is
    /// dropped unpolled.
    pub fn new(
        inner: Incoming,
        limit: Option<u64>,
        counter: Arc<BodyCount>,
        give_back: Option<oneshot::Sender<Incoming>>,
    ) -> RequestBody {
        RequestBody {
            inner: Some(inner),
            limit,
            full: None,
            counter: Some(counter),
            give_back,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        // Once polled, bytes may have left: the body can no longer be resent elsewhere.
        self.give_back = None;
        if let Some(data) = self.full.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        if let Some(c) = &self.counter {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        if let Some(limit) = self.limit {
                            if c.bytes() + d.len() as u64 > limit {
                                // Not sent: the upstream sees the bytes before it, then the
                                // upload breaks off. The client's body is left unread.
                                c.mark_too_large();
                                self.inner = None;
                                return Poll::Ready(Some(Err(UploadError::TooLarge(limit))));
                            }
                        }
                        c.add(d);
                    }
                }
                Some(Err(e)) => c.mark_client_failed(e),
                None => {}
            }
        }
        Poll::Ready(frame.map(|f| f.map_err(UploadError::Client)))
    }

    fn is_end_stream(&self) -> bool {
        self.full.is_none() && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(data) = &self.full {
            return SizeHint::with_exact(data.len() as u64);
        }
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
