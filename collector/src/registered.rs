//! `[collector] registered_nodes_only`: the set of nodes the node registry knows, kept in
//! memory and refreshed in the background, so the check on each batch is a set lookup.
//!
//! - A node is registered while one of its processes (any role) has a heartbeat within the
//!   last [`RECENT`]. A `stopping` row counts too, within the same window: a gateway flushes
//!   its last batches just before it says goodbye, and they may reach the collector after
//!   the row does.
//! - The set is read every [`REFRESH`] with `gatewatch_store::registry::list`. When a read
//!   fails (ClickHouse away) the last set is kept: the nodes cannot heartbeat either then, and
//!   refusing everyone would turn a ClickHouse outage into lost telemetry.
//! - Until the set was read once, nothing is known: batches get 503 with `Retry-After`
//!   (the sender keeps them and resends), never a guess either way.

use gatewatch_model::call::now_us;
use gatewatch_store::Store;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the set is read from the registry.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How recent a heartbeat must be for its node to count as registered (12 heartbeats).
pub const RECENT: Duration = Duration::from_secs(60);

/// The answer for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every node of the batch is registered.
    Known,
    /// This node (the first one found) is not.
    Unknown(String),
    /// The registry was never read: resend later.
    NotLoaded,
}

/// The registered nodes, shared by the ingest handlers and the refresh task.
#[derive(Debug, Default)]
pub struct Registered {
    /// `None` until the first successful read.
    nodes: RwLock<Option<Arc<HashSet<String>>>>,
}

impl Registered {
    /// Checks the nodes that `nodes` yields (one per record of a batch).
    pub fn check<'a>(&self, nodes: impl IntoIterator<Item = &'a str>) -> Verdict {
        let set = match self.nodes.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(set) = set else {
            return Verdict::NotLoaded;
        };
        for n in nodes {
            if !set.contains(n) {
                return Verdict::Unknown(n.to_string());
            }
        }
        Verdict::Known
    }

    /// Replaces the set.
    pub fn set(&self, nodes: HashSet<String>) {
        let nodes = Some(Arc::new(nodes));
        match self.nodes.write() {
            Ok(mut g) => *g = nodes,
            Err(poisoned) => *poisoned.into_inner() = nodes,
        }
    }

    /// Reads the registry once; keeps the last set on failure.
    pub async fn refresh(&self, store: &Store) -> Result<usize, gatewatch_store::Error> {
        let since = now_us() - i64::try_from(RECENT.as_micros()).unwrap_or(i64::MAX);
        let entries = gatewatch_store::registry::list(store, since).await?;
        let nodes: HashSet<String> = entries
            .into_iter()
            .filter(|e| e.heartbeat_us >= since)
            .map(|e| e.node)
            .collect();
        let n = nodes.len();
        self.set(nodes);
        Ok(n)
    }

    /// Refreshes every [`REFRESH`] until `stop` turns true.
    pub async fn run(self: Arc<Self>, store: Store, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.refresh(&store).await {
                Ok(n) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!(nodes = n, "node registry readable again");
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "cannot read the node registry; keeping the last set of registered nodes");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_passes_only_when_every_node_is_known() {
        let r = Registered::default();
        assert_eq!(r.check(["gw1"]), Verdict::NotLoaded);
        r.set(["gw1".to_string(), "gw2".to_string()].into());
        assert_eq!(r.check(["gw1", "gw2", "gw1"]), Verdict::Known);
        assert_eq!(
            r.check(["gw1", "forged", "gw2"]),
            Verdict::Unknown("forged".into())
        );
        // Names are compared exactly: no case folding, no trimming.
        assert_eq!(r.check(["GW1"]), Verdict::Unknown("GW1".into()));
        assert_eq!(r.check(["gw1 "]), Verdict::Unknown("gw1 ".into()));
        assert_eq!(r.check(std::iter::empty()), Verdict::Known);
    }
}
