//! Call records into a ClickHouse cluster (`[clickhouse] cluster`), shard by shard.
//!
//! On a cluster `api_calls` is a `Distributed` table over `api_calls_local`, a
//! `ReplicatedMergeTree` on every shard, sharded by `sipHash64(toString(call_id))` (18.16's hash
//! functions refuse a UUID argument, so the key hashes its text). The collector inserts each
//! shard's rows itself, into one replica's `api_calls_local`, and lets replication copy them
//! (`internal_replication = true`); why, and how "inserted once" holds, is in the collector's
//! `inserter` module. This module is the mechanics:
//!
//! - [`Topology::discover`]: which configured server is which shard's replica (each server
//!   answers `system.clusters … is_local`), and the shards' weights;
//! - [`Topology::shard_of`]: the shard ClickHouse's own `Distributed` table would pick for a
//!   call id — SipHash-2-4 (zero key) of the id's text, modulo the sum of the weights, each
//!   shard owning `weight` consecutive slots in shard order;
//! - [`insert_calls_local`] / [`insert_calls_distributed`]: the two ways in, with
//!   `insert_deduplicate = 1` (a replica drops a block it has seen, whichever replica it came
//!   through);
//! - [`sync_replica`] and [`stored_call_ids_local`]: the complete read of one replica that
//!   "which rows of these batches are stored?" needs.

use std::collections::HashSet;
use std::hash::Hasher;
use uuid::Uuid;

use crate::rows::ApiCallRow;
use crate::{sql, Error, Result, Store, StoreConfig};

/// The local table the collector inserts into on each shard.
pub const CALLS_LOCAL: &str = "api_calls_local";

/// The sharding key's hash of one call id, as ClickHouse computes
/// `sipHash64(toString(call_id))`.
pub fn call_id_hash(call_id: &Uuid) -> u64 {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = call_id.hyphenated().encode_lower(&mut buf);
    // ClickHouse's SipHash is SipHash-2-4 with a zero key; the standard library's is the same
    // function (deprecated only as a `Hasher` for hash maps).
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0, 0);
    h.write(text.as_bytes());
    h.finish()
}

/// One shard: its number, weight, and the configured servers that are its replicas.
#[derive(Clone)]
pub struct Shard {
    pub num: u32,
    pub weight: u32,
    /// In the order of `[clickhouse] urls`.
    pub replicas: Vec<Store>,
}

/// Which configured server serves which shard.
#[derive(Clone)]
pub struct Topology {
    /// In `shard_num` order (the cluster definition's order, which the slots follow).
    pub shards: Vec<Shard>,
    /// Slot → index into `shards`: shard `i` owns `weight(i)` consecutive slots.
    slots: Vec<usize>,
    /// Configured servers that could not be asked (down at discovery): asked again later.
    pub unmapped: Vec<String>,
}

/// Why the cluster's layout could not be learnt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    #[error(transparent)]
    Store(#[from] Error),
    #[error("no configured ClickHouse server answered ({0})")]
    NoneReachable(String),
    #[error("the ClickHouse server at {url} is not a member of cluster {cluster:?} (no row of system.clusters with is_local = 1): check [clickhouse] urls and the server's remote_servers")]
    NotAMember { url: String, cluster: String },
    #[error("cluster {0:?} is not defined in the servers' remote_servers")]
    UnknownCluster(String),
    #[error("no configured server is a replica of shard {shard} of cluster {cluster:?}{down}: list every server in [clickhouse] urls")]
    ShardUnreachable {
        shard: u32,
        cluster: String,
        down: String,
    },
}

impl TopologyError {
    /// Worth asking again later (a server down), rather than a configuration to fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            TopologyError::Store(e) => e.is_retryable(),
            TopologyError::NoneReachable(_) => true,
            TopologyError::ShardUnreachable { down, .. } => !down.is_empty(),
            _ => false,
        }
    }
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct Member {
    shard_num: u32,
    shard_weight: u32,
}

impl Topology {
    /// Asks every server of `urls` which shard of `cluster` it is (`system.clusters` with
    /// `is_local = 1`) and the shards' weights. Servers that do not answer are left in
    /// [`Topology::unmapped`]; an error when a shard has no answering replica.
    pub async fn discover(
        base: &StoreConfig,
        cluster: &str,
        urls: &[String],
    ) -> Result<Topology, TopologyError> {
        let mut shards: Vec<Shard> = Vec::new();
        let mut unmapped = Vec::new();
        let mut last_err = String::new();
        let q = "SELECT shard_num, shard_weight FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num";
        let q_local = "SELECT shard_num, shard_weight FROM system.clusters WHERE cluster = ? AND is_local = 1 LIMIT 1";
        for url in urls {
            let store = Store::new(StoreConfig {
                url: url.clone(),
                ..base.clone()
            });
            let mine: Vec<Member> = match store
                .server_client()
                .query(q_local)
                .bind(cluster)
                .fetch_all()
                .await
            {
                Ok(rows) => rows,
                Err(e) => {
                    let e = store.err(q_local, e);
                    if !e.is_retryable() {
                        return Err(e.into());
                    }
                    last_err = e.to_string();
                    unmapped.push(url.clone());
                    continue;
                }
            };
            if shards.is_empty() {
                let all: Vec<Member> = store
                    .server_client()
                    .query(q)
                    .bind(cluster)
                    .fetch_all()
                    .await
                    .map_err(|e| store.err(q, e))?;
                if all.is_empty() {
                    return Err(TopologyError::UnknownCluster(cluster.to_string()));
                }
                for m in all {
                    if shards.last().map(|s| s.num) != Some(m.shard_num) {
                        shards.push(Shard {
                            num: m.shard_num,
                            weight: m.shard_weight,
                            replicas: Vec::new(),
                        });
                    }
                }
            }
            let Some(m) = mine.first() else {
                return Err(TopologyError::NotAMember {
                    url: url.clone(),
                    cluster: cluster.to_string(),
                });
            };
            if let Some(s) = shards.iter_mut().find(|s| s.num == m.shard_num) {
                s.replicas.push(store);
            }
        }
        if shards.is_empty() {
            return Err(TopologyError::NoneReachable(last_err));
        }
        if let Some(s) = shards
            .iter()
            .find(|s| s.replicas.is_empty() && s.weight > 0)
        {
            return Err(TopologyError::ShardUnreachable {
                shard: s.num,
                cluster: cluster.to_string(),
                down: if unmapped.is_empty() {
                    String::new()
                } else {
                    format!(
                        " among those that answered (not answering: {})",
                        unmapped.join(", ")
                    )
                },
            });
        }
        Ok(Topology::new(shards, unmapped))
    }

    /// A topology from its shards (weights as given).
    pub fn new(shards: Vec<Shard>, unmapped: Vec<String>) -> Topology {
        let mut slots = Vec::new();
        for (i, s) in shards.iter().enumerate() {
            slots.extend(std::iter::repeat_n(i, s.weight as usize));
        }
        Topology {
            shards,
            slots,
            unmapped,
        }
    }

    /// Index into [`Topology::shards`] of the shard that holds `call_id`.
    pub fn shard_of(&self, call_id: &Uuid) -> usize {
        slot_shard(&self.slots, call_id_hash(call_id))
    }
}

fn slot_shard(slots: &[usize], hash: u64) -> usize {
    if slots.is_empty() {
        return 0;
    }
    slots[(hash % slots.len() as u64) as usize]
}

/// Inserts `rows` into this replica's `api_calls_local`, as one INSERT, deduplicated by block.
pub async fn insert_calls_local(replica: &Store, rows: &[ApiCallRow<'_>]) -> Result<()> {
    let client = replica
        .client()
        .clone()
        .with_setting("insert_deduplicate", "1");
    crate::ingest::insert_with::<ApiCallRow<'static>>(replica, &client, CALLS_LOCAL, rows).await
}

/// Inserts `rows` through the `Distributed` table `api_calls`, waiting until every shard has
/// them (`insert_distributed_sync = 1`: the default queues them on the receiving server's disk
/// and answers before any shard has them).
pub async fn insert_calls_distributed(store: &Store, rows: &[ApiCallRow<'_>]) -> Result<()> {
    let client = store
        .client()
        .clone()
        .with_setting("insert_distributed_sync", "1")
        .with_setting("insert_deduplicate", "1");
    crate::ingest::insert_with::<ApiCallRow<'static>>(store, &client, "api_calls", rows).await
}

/// `SYSTEM SYNC REPLICA` of `table` on this replica: returns once the replica has fetched every
/// part the shard's replication log announces (or fails after about `timeout_secs`). After
/// it, what the replica holds is what the shard holds — unless the only replica that has a part
/// is down, and then this fails instead of answering short.
pub async fn sync_replica(replica: &Store, table: &str, timeout_secs: u32) -> Result<()> {
    let q = format!(
        "SYSTEM SYNC REPLICA {}.{}",
        sql::quote_identifier(replica.database()),
        sql::quote_identifier(table)
    );
    replica
        .client()
        .clone()
        .with_setting("receive_timeout", timeout_secs.to_string())
        .query(&q)
        .execute()
        .await
        .map_err(|e| replica.err(&q, e))
}

/// Call ids in this replica's `api_calls_local` for rows of the batches `batch_ids` started
/// within `ts` (whole seconds, inclusive).
pub async fn stored_call_ids_local(
    replica: &Store,
    batch_ids: &[Uuid],
    ts: (u32, u32),
) -> Result<HashSet<Uuid>> {
    crate::ingest::stored_call_ids_in(replica, CALLS_LOCAL, batch_ids, ts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_clickhouses_siphash64_of_the_text() {
        // SELECT sipHash64(toString(toUUID('01890a5d-ac96-774b-bcce-b302099a8057'))) on 18.16.
        let id = Uuid::parse_str("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
        assert_eq!(call_id_hash(&id), 4142846990220813374);
    }

    /// Against the real server: the collector's shard is the `Distributed` table's shard only
    /// if the hash is the same for every id (ids of every version and byte pattern).
    #[tokio::test]
    async fn the_hash_matches_the_server_for_many_ids() {
        let store = Store::new(StoreConfig {
            url: std::env::var("GATEWATCH_CLICKHOUSE_URL")
                .unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
            ..StoreConfig::default()
        });
        let mut ids = vec![Uuid::nil(), Uuid::max()];
        ids.extend((0..40).map(|_| Uuid::now_v7()));
        ids.extend((0..40).map(|_| Uuid::new_v4()));
        for id in ids {
            let server: u64 = store
                .server_client()
                .query("SELECT sipHash64(toString(toUUID(?)))")
                .bind(id.to_string())
                .fetch_one()
                .await
                .unwrap();
            assert_eq!(call_id_hash(&id), server, "{id}");
        }
    }

    #[test]
    fn slots_follow_the_weights_in_shard_order() {
        // Weights 1 and 2: slot 0 → shard 0, slots 1 and 2 → shard 1.
        let slots = vec![0, 1, 1];
        assert_eq!(slot_shard(&slots, 3), 0);
        assert_eq!(slot_shard(&slots, 4), 1);
        assert_eq!(slot_shard(&slots, 5), 1);
        assert_eq!(slot_shard(&[], 5), 0);
    }
}
