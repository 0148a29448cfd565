//! The admission gate in front of the upstreams: VIP priority when the gateway is saturated.
//!
//! At most `max_inflight` calls are between admission and the end of their response at once.
//! Past that, calls wait in a queue of at most `queue_max`; when a place frees up it goes to
//! the waiter with the highest `priority` (the client's 0–9; anonymous calls are 0), first come
//! first served within a priority. A call that finds the queue full, or whose wait passes
//! `max_wait`, is refused with 503 `refused_busy`.
//!
//! Starvation: under sustained saturation by high-priority traffic, low-priority calls wait
//! until `max_wait` and are refused: that is the policy (VIP first), and the wait bound keeps
//! it from turning into hung connections. There is no aging.
//!
//! The gate's lock is held only to change counters and the heap, never across an await.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// The gate's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Calls admitted at once (per gateway process).
    pub max_inflight: usize,
    /// Calls waiting at most; more are refused at once.
    pub queue_max: usize,
    /// Longest wait for a place.
    pub max_wait: Duration,
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig {
            max_inflight: 1024,
            queue_max: 10_000,
            max_wait: Duration::from_secs(5),
        }
    }
}

struct Waiter {
    priority: u8,
    seq: Reverse<u64>,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.seq) == (other.priority, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Highest priority first, then lowest sequence (oldest) first.
        (self.priority, self.seq).cmp(&(other.priority, other.seq))
    }
}

#[derive(Default)]
struct State {
    inflight: usize,
    seq: u64,
    waiting: BinaryHeap<Waiter>,
}

/// See the module doc.
pub(crate) struct Gate {
    config: GateConfig,
    state: Mutex<State>,
}

/// A place behind the gate; dropping it hands the place to the next waiter.
pub(crate) struct Permit {
    gate: Arc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

impl Gate {
    pub fn new(config: GateConfig) -> Arc<Gate> {
        Arc::new(Gate {
            config,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain counters behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place (see the module doc); `None` means refused (`refused_busy`).
    pub async fn admit(self: &Arc<Gate>, priority: u8) -> Option<Permit> {
        let rx = {
            let mut s = self.lock();
            if s.inflight < self.config.max_inflight && s.waiting.is_empty() {
                s.inflight += 1;
                return Some(Permit { gate: self.clone() });
            }
            if s.waiting.len() >= self.config.queue_max {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            s.seq += 1;
            let seq = Reverse(s.seq);
            s.waiting.push(Waiter { priority, seq, tx });
            rx
        };
        let mut rx = rx;
        match tokio::time::timeout(self.config.max_wait, &mut rx).await {
            Ok(Ok(())) => Some(Permit { gate: self.clone() }),
            // The gate is gone (shutdown) or the wait ran out.
            Ok(Err(_)) => None,
            Err(_) => {
                // A place may have been handed over just as the wait ran out: keep it rather
                // than leak it.
                rx.close();
                rx.try_recv().ok().map(|()| Permit { gate: self.clone() })
            }
        }
    }

    /// Hands the freed place to the best live waiter, or gives it back.
    fn release(&self) {
        let mut s = self.lock();
        while let Some(w) = s.waiting.pop() {
            if w.tx.send(()).is_ok() {
                // The place passes on: `inflight` is unchanged.
                return;
            }
            // That waiter left (timed out or its client went away): try the next.
        }
        s.inflight = s.inflight.saturating_sub(1);
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let s = self.lock();
        (s.inflight, s.waiting.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_inflight: usize, queue_max: usize, max_wait: Duration) -> Arc<Gate> {
        Gate::new(GateConfig {
            max_inflight,
            queue_max,
            max_wait,
        })
    }

    #[tokio::test]
    async fn waiters_are_admitted_highest_priority_first_fifo_within_a_priority() {
        let g = gate(1, 100, Duration::from_secs(60));
        let held = g.admit(0).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Queue in this order: (priority, name).
        let order = [
            (0, "low-1"),
            (9, "vip-1"),
            (5, "mid"),
            (9, "vip-2"),
            (0, "low-2"),
        ];
        for (p, name) in order {
            let (g2, tx) = (g.clone(), tx.clone());
            tokio::spawn(async move {
                let permit = g2.admit(p).await;
                tx.send((name, permit.is_some())).unwrap();
                // Hold the place a moment so the next admission is a separate hand-over.
                tokio::task::yield_now().await;
                drop(permit);
            });
            // Let it reach the queue before the next one (FIFO needs a known order).
            while g.counts().1 < order.iter().position(|o| o.1 == name).unwrap() + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        let mut got = Vec::new();
        for _ in 0..order.len() {
            got.push(rx.recv().await.unwrap());
        }
        let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["vip-1", "vip-2", "mid", "low-1", "low-2"]);
        assert!(got.iter().all(|(_, ok)| *ok));
        // The last one gives its place back after reporting.
        for _ in 0..1000 {
            if g.counts() == (0, 0) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(g.counts(), (0, 0));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_long_wait_is_refused() {
        let g = gate(1, 1, Duration::from_millis(50));
        let held = g.admit(0).await.unwrap();
        let waiter = tokio::spawn({
            let g = g.clone();
            async move { g.admit(3).await.is_some() }
        });
        while g.counts().1 < 1 {
            tokio::task::yield_now().await;
        }
        // The queue (1) is full: refused without waiting.
        assert!(g.admit(9).await.is_none());
        // The waiter's time runs out.
        assert!(!waiter.await.unwrap());
        // Its stale entry does not swallow the place when it frees up.
        drop(held);
        assert_eq!(g.counts(), (0, 0));
        let again = g.admit(0).await;
        assert!(again.is_some());
        drop(again);
        assert_eq!(g.counts(), (0, 0));
    }

    #[tokio::test]
    async fn below_the_limit_nobody_waits() {
        let g = gate(3, 0, Duration::from_millis(1));
        let a = g.admit(0).await.unwrap();
        let b = g.admit(0).await.unwrap();
        let c = g.admit(0).await.unwrap();
        assert_eq!(g.counts(), (3, 0));
        assert!(g.admit(9).await.is_none());
        drop((a, b, c));
        assert_eq!(g.counts(), (0, 0));
    }
}
