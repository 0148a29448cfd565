//! Streaming bodies with byte counts: nothing here buffers a whole body.
//!
//! - [`request::RequestBody`]: the client's request body on its way upstream, counted frame by frame
//!   (and its first bytes copied when the API captures bodies, see [`crate::capture`]).
//!   If it is dropped unpolled (the connection to the upstream could not be made), it hands
//!   the untouched body back so the call can try the next upstream.
//! - [`response::ResponseBody`]: the upstream's (or the gateway's own) response on its way to the
//!   client. It owns the call's [`Call`](crate::recorder::Call) (which copies the first bytes when the API captures
//!   bodies) and ends it — and so emits the record — when the last
//!   frame is out, when the upstream body fails, or when hyper drops it early (client gone).
//!   It also holds the upstream connection's [`Lease`](crate::upstream::pool::Lease): back to its pool when the upstream
//!   body has ended, dropped (the connection closed) if the body fails or is dropped early.
//!
//! Three modules, so that the upstream pool (which sends [`request::RequestBody`]) and the
//! recorder (which reads a [`count::BodyCount`]) need not know the response side, which holds
//! the call and the pool's lease.

pub(crate) mod client;
pub(crate) mod count;
pub(crate) mod request;
pub(crate) mod response;
