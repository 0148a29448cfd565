//! The collector's view of a ClickHouse cluster: which configured server is which shard's
//! replica, which replica of each shard answered last, and failover between them.
//!
//! Every statement goes to a replica that answered last time first, and on a passing error
//! (server away, keeper trouble, overload) to the next one at once; an error about the data
//! itself is the same on every replica and is returned as it is.

use gatewatch_store::shards::{Topology, TopologyError};
use gatewatch_store::{Store, StoreConfig};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How a collector on a cluster puts call records in (`[collector] cluster_insert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterMode {
    /// Split by shard in the collector, insert into one replica's `api_calls_local` per shard
    /// (the default: see the inserter's module doc for why).
    #[default]
    Shards,
    /// Into the `Distributed` table `api_calls`, `insert_distributed_sync = 1`: for a site
    /// where the collector can reach ClickHouse only through one address.
    Distributed,
}

impl ClusterMode {
    pub fn parse(s: &str) -> Option<ClusterMode> {
        match s {
            "shards" => Some(ClusterMode::Shards),
            "distributed" => Some(ClusterMode::Distributed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Shards => "shards",
            ClusterMode::Distributed => "distributed",
        }
    }
}

/// `[clickhouse] cluster` and the servers the collector may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's name in the servers' `remote_servers`.
    pub name: String,
    /// Every server the collector may talk to (`[clickhouse] urls`, else `[clickhouse] url`).
    pub urls: Vec<String>,
    pub mode: ClusterMode,
}

/// Longest wait for one statement on one server before the next replica is tried.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Servers not mapped at the last discovery are asked again at most this often.
const REDISCOVER: Duration = Duration::from_secs(10);

pub(crate) struct Cluster {
    pub config: ClusterConfig,
    base: StoreConfig,
    /// Every configured server, for statements any of them can answer (markers, node samples).
    servers: Vec<Store>,
    /// The server that answered last.
    preferred: AtomicUsize,
    topology: Mutex<Option<(Topology, Instant)>>,
    /// Per shard index, the replica that answered last.
    shard_preferred: Mutex<Vec<usize>>,
}

/// Something that failed on every server tried.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error(transparent)]
    Store(#[from] gatewatch_store::Error),
    #[error("cluster layout: {0}")]
    Topology(#[from] TopologyError),
}

impl Cluster {
    pub fn new(config: ClusterConfig, base: StoreConfig) -> Cluster {
        let servers = config
            .urls
            .iter()
            .map(|u| {
                Store::new(StoreConfig {
                    url: u.clone(),
                    ..base.clone()
                })
            })
            .collect();
        Cluster {
            config,
            base,
            servers,
            preferred: AtomicUsize::new(0),
            topology: Mutex::new(None),
            shard_preferred: Mutex::new(Vec::new()),
        }
    }

    /// The shards and their replicas; asked of the servers the first time, and again (at most
    /// every [`REDISCOVER`]) while some configured server has not answered.
    pub async fn topology(&self) -> Result<Topology, ClusterError> {
        {
            let t = self.topology.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((t, at)) = &*t {
                if t.unmapped.is_empty() || at.elapsed() < REDISCOVER {
                    return Ok(t.clone());
                }
            }
        }
        let fresh = match Topology::discover(&self.base, &self.config.name, &self.config.urls).await
        {
            Ok(t) => t,
            Err(e) => {
                // Keep a layout learnt before rather than stop on a server that is down now.
                let t = self.topology.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((t, _)) = &*t {
                    if e.is_retryable() {
                        return Ok(t.clone());
                    }
                }
                return Err(e.into());
            }
        };
        if !fresh.unmapped.is_empty() {
            tracing::warn!(servers = ?fresh.unmapped, "ClickHouse servers of [clickhouse] urls did not answer; their shard is asked again later");
        }
        let mut prefs = self
            .shard_preferred
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        prefs.resize(fresh.shards.len(), 0);
        *self.topology.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }

    /// Runs `f` on a configured server: the one that answered last first, then the others in
    /// turn while the error is a passing one.
    pub async fn any<T, F, Fut>(&self, f: F) -> Result<T, gatewatch_store::Error>
    where
        F: Fn(Store) -> Fut,
        Fut: Future<Output = Result<T, gatewatch_store::Error>>,
    {
        let n = self.servers.len();
        let start = self.preferred.load(Relaxed) % n.max(1);
        let (i, r) = first_ok(&self.servers, start, f).await;
        if r.is_ok() {
            self.preferred.store(i, Relaxed);
        }
        r
    }

    /// Runs `f` on a replica of shard `shard` (an index into the topology's shards), with the
    /// same failover as [`Cluster::any`].
    pub async fn on_shard<T, F, Fut>(
        &self,
        topology: &Topology,
        shard: usize,
        f: F,
    ) -> Result<T, gatewatch_store::Error>
    where
        F: Fn(Store) -> Fut,
        Fut: Future<Output = Result<T, gatewatch_store::Error>>,
    {
        let replicas = &topology.shards[shard].replicas;
        let start = self
            .shard_preferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(shard)
            .copied()
            .unwrap_or(0)
            % replicas.len().max(1);
        let (i, r) = first_ok(replicas, start, f).await;
        if r.is_ok() {
            if let Some(p) = self
                .shard_preferred
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(shard)
            {
                *p = i;
            }
        }
        r
    }
}

/// Tries `f` on `stores[start]`, then the next ones round the ring, while the error is a
/// passing or setup one (one server's trouble); returns the index that answered last.
async fn first_ok<T, F, Fut>(
    stores: &[Store],
    start: usize,
    f: F,
) -> (usize, Result<T, gatewatch_store::Error>)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = Result<T, gatewatch_store::Error>>,
{
    let n = stores.len();
    let mut last = None;
    for k in 0..n {
        let i = (start + k) % n;
        // A server that accepts the connection and never answers (seen on 18.16 just after a
        // restart) must not hold the round forever: past the bound, the next replica. An insert
        // cut off this way may still land; its retry is the same block, deduplicated.
        let answer = match tokio::time::timeout(STATEMENT_TIMEOUT, f(stores[i].clone())).await {
            Ok(r) => r,
            Err(_) => Err(gatewatch_store::Error::Unreachable {
                url: stores[i].config().url.clone(),
                source: clickhouse::error::Error::TimedOut,
                cause: format!(": no answer within {} s", STATEMENT_TIMEOUT.as_secs()),
            }),
        };
        match answer {
            Ok(v) => return (i, Ok(v)),
            Err(e) => {
                let next = k + 1 < n;
                if next && (e.is_retryable() || e.is_setup_problem()) {
                    tracing::warn!(error = %e, url = %stores[i].config().url, "ClickHouse server failed; trying the next replica");
                    last = Some(e);
                    continue;
                }
                return (i, Err(e));
            }
        }
    }
    match last {
        Some(e) => (start, Err(e)),
        None => (
            start,
            Err(gatewatch_store::Error::BadVersion(
                "no ClickHouse server configured".into(),
            )),
        ),
    }
}
