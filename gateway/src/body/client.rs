//! The client's request body as the request policies leave it: still streaming from the
//! client (most calls), or read whole because a policy had to see it (message checks, a
//! `content-digest`, an idempotency key's fingerprint). Read bodies are bounded: the API's
//! `max_body_bytes`, or [`crate::policy::POLICY_BODY_MAX`] when it sets none.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

/// The request body handed to the upstream phase.
#[derive(Debug)]
pub(crate) enum ClientBody {
    /// Streams from the client as the upstream reads it; `limit` (the API's
    /// `max_body_bytes`) cuts it off with 413 before a byte past it is sent.
    Streamed { body: Incoming, limit: Option<u64> },
    /// Read whole by the request policies (kept for retries: cloning `Bytes` is cheap).
    Buffered(Bytes),
}

impl ClientBody {
    /// No byte to send (a GET, an empty POST).
    pub fn is_empty(&self) -> bool {
        match self {
            ClientBody::Streamed { body, .. } => body.is_end_stream(),
            ClientBody::Buffered(b) => b.is_empty(),
        }
    }

    /// The bytes, when the policies read the body.
    pub fn bytes(&self) -> Option<&Bytes> {
        match self {
            ClientBody::Buffered(b) => Some(b),
            ClientBody::Streamed { .. } => None,
        }
    }
}

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Longer than the limit (by its `Content-Length`, or once the bytes passed it).
    #[error("the request body is larger than {0} bytes")]
    TooLarge(u64),
    /// The framing does not parse (a bad chunk size).
    #[error("the request body is malformed: {0}")]
    Malformed(String),
    /// The client went away, or sent nothing for `timeout`.
    #[error("the request body did not arrive: {0}")]
    Gone(String),
}

/// Reads `body` whole, refusing it as soon as it is longer than `limit` bytes (a declared
/// length over the limit is refused before a byte is read) or stalls for `timeout`.
pub(crate) async fn read_whole(
    mut body: Incoming,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, ReadError> {
    if body.size_hint().lower() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return Err(ReadError::Gone(format!(
                    "no byte for {} ms",
                    timeout.as_millis()
                )))
            }
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) if super::count::malformed(&e) => {
                return Err(ReadError::Malformed(e.to_string()))
            }
            Ok(Some(Err(e))) => return Err(ReadError::Gone(e.to_string())),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(ReadError::TooLarge(limit));
            }
            buf.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Serves one connection whose request body goes through `read_whole(limit)`; sends `raw`
    /// (a request head and body) and gives back what `read_whole` said.
    async fn read_sent(raw: &'static [u8], limit: u64) -> Result<Bytes, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let tx = tx.lock().unwrap().take();
                async move {
                    let got = read_whole(req.into_body(), limit, Duration::from_secs(5)).await;
                    if let Some(tx) = tx {
                        let _ = tx.send(got.map_err(|e| e.to_string()));
                    }
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                        Bytes,
                    >::new(
                    )))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = client.write_all(raw).await;
        let got = rx.await.unwrap();
        drop(client);
        server.abort();
        got
    }

    #[tokio::test]
    async fn a_body_read_whole_stops_at_the_limit_declared_or_chunked() {
        let got = read_sent(
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 11\r\n\r\nhello world",
            10,
        )
        .await;
        assert_eq!(got.unwrap_err(), "the request body is larger than 10 bytes");
        let got = read_sent(
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nhello worl",
            10,
        )
        .await;
        assert_eq!(got.unwrap(), "hello worl");
        let chunked: &[u8] = b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n\
            6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
        assert_eq!(
            read_sent(chunked, 10).await.unwrap_err(),
            "the request body is larger than 10 bytes"
        );
        assert_eq!(read_sent(chunked, 11).await.unwrap(), "hello world");
        let bad: &[u8] = b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert!(read_sent(bad, 10).await.unwrap_err().contains("malformed"));
    }
}
