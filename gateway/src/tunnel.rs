//! Protocol upgrades (WebSocket and others) passed through: after the upstream answered
//! `101 Switching Protocols` to an HTTP/1.1 upgrade request and the client got that answer,
//! the two upgraded connections are spliced and bytes are copied both ways until either side
//! closes, the tunnel idles for the gateway's `upgrade_idle_timeout`, or the gateway shuts
//! down.
//!
//! - One record per tunnel, emitted when it ends: status 101, `latency_us` the whole life of
//!   the tunnel (from the request head), `request_bytes` the bytes read from the client after
//!   the upgrade (client → upstream), `response_bytes` those read from the upstream (upstream
//!   → client); the `error` says why it ended when that was not a close by either side. The
//!   tunnel's life counts as upstream time (`upstream_latency_us`), so `overhead_us` stays
//!   the gateway's own share.
//! - Bounded: at most as many tunnels as the proxy port's `max_connections` (past that the
//!   upgrade is refused 503 `refused_busy` before the upstream is asked); a tunnel holds no
//!   place behind the access phase's gate (`max_inflight`) once it is open.
//! - `h2c` is never passed through: a tunnel to an HTTP/2 upstream would carry requests the
//!   gateway never routes or checks (h2c smuggling); such a request goes up as a plain call
//!   without its `Upgrade`.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::recorder::Call;

/// Default `upgrade_idle_timeout`.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Looks at a tunnel's activity per idle timeout.
const TICKS: u32 = 4;

/// What every tunnel of a gateway shares.
#[derive(Clone)]
pub(crate) struct Tunnels {
    /// A tunnel with no byte either way for this long is closed.
    pub idle: Duration,
    /// Becomes `true` when the gateway starts shutting down: every tunnel closes.
    pub stop: watch::Receiver<bool>,
    /// One permit per open tunnel.
    pub places: Arc<Semaphore>,
    /// Tunnels open at most.
    pub max: usize,
}

impl Tunnels {
    pub fn new(idle: Duration, max: usize, stop: watch::Receiver<bool>) -> Tunnels {
        let max = max.max(1);
        Tunnels {
            idle,
            stop,
            places: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// The tunnels open now (`gatewatch_gateway_tunnels_open`).
    pub fn encode(
        &self,
        enc: &mut gatewatch_listen::metrics::DescriptorEncoder,
    ) -> std::fmt::Result {
        let open = self.max - self.places.available_permits();
        gatewatch_listen::metrics::gauge(
            enc,
            "gatewatch_gateway_tunnels_open",
            "Upgraded connections (WebSocket...) open.",
            open as u64,
        )
    }

    /// A place for one more tunnel, if any is free.
    pub fn place(&self) -> Option<OwnedSemaphorePermit> {
        self.places.clone().try_acquire_owned().ok()
    }
}

/// How a tunnel ended, for the record.
enum End {
    /// Both sides closed (or one closed and the other followed).
    Closed,
    Idle(Duration),
    Shutdown,
    Failed(String),
}

/// Runs the tunnel of `call` once both sides have upgraded, then emits its record.
pub(crate) async fn run(
    call: Call,
    client: OnUpgrade,
    upstream: OnUpgrade,
    tunnels: Tunnels,
    _place: OwnedSemaphorePermit,
) {
    let opened = Instant::now();
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            let note = Cow::Owned(format!("upgrade failed: {e}"));
            call.tunnel_ended(0, 0, opened.elapsed(), note);
            return;
        }
    };
    let active = Arc::new(AtomicBool::new(false));
    let mut client = Counted::new(TokioIo::new(client), active.clone());
    let mut upstream = Counted::new(TokioIo::new(upstream), active.clone());
    let mut stop = tunnels.stop;
    let end = {
        let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        tokio::pin!(copy);
        let mut tick = tokio::time::interval(tunnels.idle / TICKS);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut quiet = 0;
        loop {
            tokio::select! {
                r = &mut copy => break match r {
                    Ok(_) => End::Closed,
                    Err(e) => End::Failed(e.to_string()),
                },
                _ = tick.tick() => {
                    if active.swap(false, Ordering::Relaxed) {
                        quiet = 0;
                    } else {
                        quiet += 1;
                        if quiet >= TICKS {
                            break End::Idle(tunnels.idle);
                        }
                    }
                }
                _ = stop.wait_for(|s| *s) => break End::Shutdown,
            }
        }
    };
    let note = match end {
        End::Closed => Cow::Borrowed(""),
        End::Idle(d) => Cow::Owned(format!(
            "tunnel closed: no data either way for {} ms (upgrade_idle_timeout)",
            d.as_millis()
        )),
        End::Shutdown => Cow::Borrowed("tunnel closed: the gateway is shutting down"),
        End::Failed(e) => Cow::Owned(format!("tunnel broke: {e}")),
    };
    call.tunnel_ended(client.read, upstream.read, opened.elapsed(), note);
}

/// One side of a tunnel: counts the bytes read from it and marks the tunnel active.
struct Counted<T> {
    io: T,
    read: u64,
    active: Arc<AtomicBool>,
}

impl<T> Counted<T> {
    fn new(io: T, active: Arc<AtomicBool>) -> Counted<T> {
        Counted {
            io,
            read: 0,
            active,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            self.read += n;
            self.active.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
