//! From the write-ahead log into ClickHouse, each batch once.
//!
//! The loop gathers log entries into one round (up to `max_rows` rows or `period` after the
//! first entry), inserts the round's call records into `api_calls` and node samples into
//! `node_metrics`, marks the round's batch ids in `ingest_batches`, and only then acknowledges
//! the log up to the round's last entry.
//!
//! Every round first reads the markers of its batches (one lookup by `ingest_batches`' sort
//! key): a batch with a marker is skipped whole. That covers a batch this collector took too
//! late — it was frozen (a paused process, a stalled VM) past the gateway's send timeout, and
//! the gateway gave the batch to another collector, which stored it. A round whose rows may
//! already be in ClickHouse — entries flagged by the shipper as resends, entries left
//! unacknowledged by a previous run, any round retried after an error (an insert that timed
//! out may still have landed), and a round whose check and preparation took longer than
//! [`STALL`] (frozen in between) — is checked row by row as well: of its unmarked batches only
//! rows not yet present are inserted ([`gatewatch_store::ingest`]). What remains open: two
//! collectors inserting the same batch within the same second (the frozen one waking just as
//! the other inserts); neither sees the other's rows yet.
//!
//! Errors are sorted ([`gatewatch_store::Error::is_permanent`]):
//! - passing ones (ClickHouse away, timeouts, memory, too many parts, overload) and setup
//!   problems (a table missing, no right to insert, disk full: the same for every batch) are
//!   retried with backoff, the whole round, for as long as they last; a full log makes the HTTP
//!   side answer 503 meanwhile;
//! - a refusal of the data itself (a value of the wrong type, a row an expression throws on, an
//!   insert spread over too many partitions) would come back on every retry and hold up every
//!   batch behind it. The round is split in halves, each stored on its own (checked first: a
//!   failed insert may have landed in part), and a half that is refused again is split again,
//!   until the refused batch stands alone. Refused twice alone, it is set aside in
//!   `wal/quarantine/` ([`crate::quarantine`]) with the error, counted
//!   (`gatewatch_collector_batches_quarantined_total`), logged, and recorded in
//!   `ingest_quarantine` (what an `ingest_quarantine` alert rule counts). The rest of the round
//!   is stored, and the round is acknowledged as a whole, in order, as before.
//!
//! # On a cluster (`[clickhouse] cluster`)
//!
//! `api_calls` is a `Distributed` table over `api_calls_local`, a `ReplicatedMergeTree` on each
//! of the shards, sharded by `sipHash64(toString(call_id))`; the markers (`ingest_batches`) are
//! one `ReplicatedMergeTree` shard with a replica on every server. By default
//! (`[collector] cluster_insert = "shards"`) the collector splits each round by shard itself —
//! the same function over the same weights as the `Distributed` table, read from
//! `system.clusters` ([`gatewatch_store::shards`]) — and inserts each shard's rows into one
//! replica's `api_calls_local`, all shards at once; the shard's other replicas fetch the part
//! (`internal_replication = true`). Measured against inserting through `Distributed` with
//! `insert_distributed_sync = 1` in `ops/bench/RESULTS.md`; besides the speed, only this way
//! lets the collector choose the replica it writes to and the one it reads its checks from,
//! which the reasoning below needs. (`insert_distributed_sync = 0`, the default, is never an
//! option: the server answers once the rows are queued on its own disk, before any shard has
//! them, and a marker written then could name rows that are lost with that disk.)
//!
//! Rows first, markers second still holds: a round's markers are written only after every
//! shard took its rows. What can go wrong, and why nothing is stored twice:
//!
//! - **A retried insert reaching another replica.** An insert whose answer never came (the
//!   replica was killed, ZooKeeper lost the session: "unknown status of insert") may or may not
//!   be committed. The part of the round is prepared once ([`Prepared`]) and the very same
//!   rows are sent again — to the next replica of the shard when the first is away. A
//!   `ReplicatedMergeTree` keeps the checksum of every part inserted into the shard in
//!   ZooKeeper (`insert_deduplicate = 1`, set on every insert; the last
//!   `replicated_deduplication_window` = 100 blocks per shard), shared by all its replicas, so
//!   the second replica drops a block the first one committed. The same holds for the rollup
//!   tables the views fill: the same block gives the same rollup rows, deduplicated the same way.
//!   A retry sends only the shards that did not answer success, so the window is needed only
//!   for the few rounds in flight while a shard is in trouble.
//! - **Partial success** (shard 1 stored, shard 2 down). Shard 1 is marked done in the prepared
//!   part and never sent again; shard 2's rows are retried (with backoff, as long as it is
//!   down); no marker is written until shard 2 has them, and the log is not acknowledged, so a
//!   collector restart meanwhile replays the round and checks it (next point).
//! - **Checking after a restart or a resend, through a lagging replica.** Rounds built from
//!   entries that may be stored (a shipper's resend, a log replayed after a crash, a part split
//!   off a refused round) are not the blocks of the first attempt, so deduplication cannot be
//!   counted on: they are checked. Markers are read on any server (a marker there means the
//!   rows are stored; one not yet replicated only costs the row check). Rows are read per
//!   shard from one replica after `SYSTEM SYNC REPLICA api_calls_local`, which returns once
//!   that replica has fetched every part its shard's replication log announces: a replica that
//!   lags cannot answer "not there" for rows its shard holds. When the only replica holding a
//!   part is down, the sync times out and the check fails and is retried, rather than answer
//!   short. (`insert_quorum`/`select_sequential_consistency` would make every insert wait for
//!   all replicas of a shard, so one replica down would stop ingest: not used.)
//! - **Replica failover.** Each statement goes to the replica that answered last, and on a
//!   passing error at once to the shard's next replica ([`crate::cluster`]); markers and node
//!   samples to any server of `[clickhouse] urls`.
//!
//! With `cluster_insert = "distributed"` (one address for the whole cluster), rounds go into
//! `api_calls` with `insert_distributed_sync = 1` and `insert_deduplicate = 1`: the `Distributed`
//! table splits a retried round into the same blocks, so retries are deduplicated the same way;
//! but the checks read through `Distributed`, whose replica may lag — after a crash, a batch
//! whose marker and rows are not yet on the replica read could be stored twice. Prefer `shards`.

use gatewatch_model::{ndjson::decode_lines, CallRecord, NodeSample};
use gatewatch_store::rows::{ApiCallRow, BatchKind, NodeMetricRow};
use gatewatch_store::Store;
use gatewatch_store::{ingest, shards};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cluster::{Cluster, ClusterConfig, ClusterError, ClusterMode};
use crate::metrics::Metrics;
use crate::quarantine::{Quarantine, SetAside};
use crate::wal::{Entry, Kind, Wal, WalReader, FLAG_MAYBE_STORED};
use crate::Batch;
use futures_util::future::join_all;

/// How big a round gets and how long it waits to fill.
#[derive(Debug, Clone)]
pub struct InserterConfig {
    pub max_rows: usize,
    pub period: Duration,
    /// This collector's name, written into `ingest_batches.collector`.
    pub name: String,
    /// `[clickhouse] cluster`: insert shard by shard (or through `Distributed`), fail over
    /// between replicas. `None`: one server, as before.
    pub cluster: Option<ClusterConfig>,
}

/// One entry, decoded.
pub(crate) struct Item {
    seq: u64,
    batch_id: Uuid,
    maybe_stored: bool,
    batch: Arc<Batch>,
}

pub(crate) struct Inserter {
    pub store: Store,
    pub wal: Wal<Batch>,
    pub reader: WalReader<Batch>,
    pub config: InserterConfig,
    pub metrics: Arc<Metrics>,
    /// Entries up to this seq were on disk when the collector started: they may be stored.
    pub recovered_up_to: u64,
    /// Where batches ClickHouse refuses for good are set aside.
    pub quarantine: Quarantine,
}

/// Rounds being stored at once: ClickHouse does 1.5–1.7× more with two inserts in flight
/// (ops/bench/RESULTS.md), and the next round is prepared while one is inserted.
const ROUNDS_IN_FLIGHT: usize = 2;

impl Inserter {
    /// Runs until `stop` turns true. Rounds are gathered by one task and stored by up to
    /// [`ROUNDS_IN_FLIGHT`] others; the log is acknowledged strictly in round order, so an
    /// acknowledgement never passes a round that is not stored. On stop, rounds under way are
    /// abandoned unacknowledged: the next start checks them against ClickHouse.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let Inserter {
            store,
            wal,
            reader,
            config,
            metrics,
            recovered_up_to,
            quarantine,
        } = self;
        let cluster = config
            .cluster
            .clone()
            .map(|c| Arc::new(Cluster::new(c, store.config().clone())));
        let rounds = Rounds {
            store,
            metrics,
            name: config.name.clone(),
            quarantine: Arc::new(quarantine),
            cluster,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Item>>(1);
        let mut gatherer = Gatherer {
            reader,
            config,
            recovered_up_to,
        };
        let gather_task = tokio::spawn(async move {
            loop {
                match gatherer.gather().await {
                    Ok(round) if round.is_empty() => {}
                    Ok(round) => {
                        if tx.send(round).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the write-ahead log");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let mut in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Option<u64>>> =
            std::collections::VecDeque::new();
        let stop_rounds = stop.clone();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                done = async {
                    match in_flight.front_mut() {
                        Some(task) => task.await,
                        None => std::future::pending().await,
                    }
                }, if !in_flight.is_empty() => {
                    in_flight.pop_front();
                    if let Ok(Some(last_seq)) = done {
                        if let Err(e) = wal.ack(last_seq) {
                            // The rows are stored; at worst they are checked again after a restart.
                            tracing::error!(error = %e, "cannot acknowledge the write-ahead log");
                        }
                    }
                }
                round = rx.recv(), if in_flight.len() < ROUNDS_IN_FLIGHT => {
                    let Some(round) = round else { break };
                    in_flight.push_back(tokio::spawn(rounds.clone().store_until_done(round, stop_rounds.clone())));
                }
            }
        }
        gather_task.abort();
        for task in in_flight {
            task.abort();
        }
    }
}

/// Reads the log into rounds.
struct Gatherer {
    reader: WalReader<Batch>,
    config: InserterConfig,
    recovered_up_to: u64,
}

/// What storing a round needs; cloned into each round's task.
#[derive(Clone)]
pub(crate) struct Rounds {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub name: String,
    pub quarantine: Arc<Quarantine>,
    /// On a cluster: its layout and the replicas' failover.
    pub cluster: Option<Arc<Cluster>>,
}

/// Which step of storing a round failed: only a refused insert says something about the data.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoundError {
    #[error("checking what is stored: {0}")]
    Check(#[source] gatewatch_store::Error),
    #[error("{0}")]
    Insert(#[source] gatewatch_store::Error),
    #[error("marking batches stored: {0}")]
    Mark(#[source] gatewatch_store::Error),
    /// The cluster's layout could not be learnt (a server down, or a configuration to fix):
    /// waited out like a server away.
    #[error("{0}")]
    Layout(#[source] ClusterError),
}

impl RoundError {
    /// ClickHouse refused the rows themselves and would again: split, then set aside.
    fn is_refusal(&self) -> bool {
        matches!(self, RoundError::Insert(e) if e.is_permanent())
    }
}

impl Rounds {
    /// Stores `round` — retrying passing errors with backoff, splitting it around a batch
    /// ClickHouse refuses for good and setting that batch aside — until every entry is stored
    /// or set aside, or `stop` turns true. Returns the round's last sequence number once done.
    pub(crate) async fn store_until_done(
        self,
        round: Vec<Item>,
        mut stop: watch::Receiver<bool>,
    ) -> Option<u64> {
        let last_seq = round.last().map(|i| i.seq)?;
        let mut backoff = Backoff::default();
        // Parts of the round still to store, in order; `true`: check what is stored first.
        let mut parts: VecDeque<(std::ops::Range<usize>, bool)> =
            VecDeque::from([(0..round.len(), false)]);
        while let Some((range, mut retry)) = parts.pop_front() {
            let items = &round[range.clone()];
            let mut refused_alone = 0;
            // On a cluster: the part's rows split by shard, made once and sent again as they
            // are on a retry (what replica deduplication recognizes).
            let mut prepared: Option<Prepared<'_>> = None;
            loop {
                let started = Instant::now();
                let stored = match &self.cluster {
                    None => self.store_round(items, retry).await,
                    Some(c) => {
                        self.store_round_cluster(c, items, retry, &mut prepared)
                            .await
                    }
                };
                let e = match stored {
                    Ok(()) => {
                        self.metrics.insert_latency.observe(
                            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                        );
                        self.metrics.clickhouse_down.store(0, Relaxed);
                        backoff = Backoff::default();
                        break;
                    }
                    Err(e) => e,
                };
                Metrics::add(&self.metrics.insert_errors, 1);
                // A failed insert may still have landed, in part: check before the next try.
                retry = true;
                if e.is_refusal() {
                    // A part of another composition is checked afresh, never sent as this one.
                    prepared = None;
                    if items.len() > 1 {
                        let mid = range.start + items.len() / 2;
                        tracing::warn!(error = %e, entries = items.len(), "ClickHouse refused a round for good; splitting it to find the batch at fault");
                        parts.push_front((mid..range.end, true));
                        parts.push_front((range.start..mid, true));
                        break;
                    }
                    refused_alone += 1;
                    // Refused twice alone: not a passing fault of the server.
                    if refused_alone >= 2 {
                        if self.set_aside(&items[0], &e, &mut stop).await {
                            break;
                        }
                        return None;
                    }
                } else {
                    self.metrics.clickhouse_down.store(1, Relaxed);
                }
                let wait = backoff.next();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, entries = items.len(), "insert failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return None,
                }
            }
        }
        Some(last_seq)
    }

    /// Sets `item` aside: its records and the error to `wal/quarantine/`, a metric, a log line,
    /// a row in `ingest_quarantine`. False when `stop` came first (the entry stays in the log
    /// and is tried again after the next start).
    async fn set_aside(
        &self,
        item: &Item,
        error: &RoundError,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let at_secs = now_secs();
        let message = error.to_string();
        let mut backoff = Backoff::default();
        let file = loop {
            let q = self.quarantine.clone();
            let batch = item.batch.clone();
            let (batch_id, collector, msg) = (item.batch_id, self.name.clone(), message.clone());
            let written = tokio::task::spawn_blocking(move || {
                q.write(&SetAside {
                    batch_id,
                    batch: &batch,
                    collector: &collector,
                    at_secs,
                    error: &msg,
                })
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
            match written {
                Ok(path) => break path,
                Err(e) => {
                    let wait = backoff.next();
                    tracing::error!(error = %e, dir = %self.quarantine.dir().display(), batch_id = %item.batch_id, "cannot write a refused batch to the quarantine folder; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return false,
                    }
                }
            }
        };
        let rows = item.batch.len() as u64;
        let kind = match &*item.batch {
            Batch::Calls(_) => BatchKind::Calls,
            Batch::Samples(_) => BatchKind::NodeSamples,
        };
        Metrics::add(&self.metrics.batches_quarantined, 1);
        Metrics::add(&self.metrics.rows_quarantined, rows);
        tracing::error!(
            batch_id = %item.batch_id,
            kind = ?kind,
            rows,
            file = %file.display(),
            error = %message,
            "ClickHouse refused a batch for good; it is set aside in the quarantine folder with the error (resend it from there once the cause is fixed)"
        );
        let record = ingest::Quarantined {
            ts: at_secs,
            batch_id: item.batch_id,
            kind,
            rows: rows as u32,
            collector: self.name.clone(),
            file: file.display().to_string(),
            error: message,
        };
        let mut backoff = Backoff::default();
        loop {
            match ingest::record_quarantine(&self.store, &record).await {
                Ok(()) => return true,
                Err(e) if e.is_retryable() => {
                    let wait = backoff.next();
                    tracing::warn!(error = %e, "cannot record the quarantined batch in ClickHouse yet; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // The file is written: the batch is not lost. Acknowledge it.
                        _ = stop.wait_for(|s| *s) => return true,
                    }
                }
                Err(e) => {
                    // The file and the metric stand; an alert on the table will not see it.
                    tracing::error!(error = %e, "cannot record the quarantined batch in ClickHouse (is the schema migrated?)");
                    return true;
                }
            }
        }
    }
}

impl Gatherer {
    /// Waits for a first entry, then takes more until the round is full or its time is up.
    async fn gather(&mut self) -> Result<Vec<Item>, crate::wal::WalError> {
        let first = self.reader.next().await?;
        let mut rows = first.header.count as usize;
        let mut entries = vec![first];
        let deadline = Instant::now() + self.config.period;
        while rows < self.config.max_rows {
            let next = tokio::select! {
                e = self.reader.next() => e?,
                _ = tokio::time::sleep_until(deadline) => break,
            };
            rows += next.header.count as usize;
            entries.push(next);
        }
        // Entries the ingest side's cache no longer holds must be decoded again: CPU work,
        // kept off the runtime's threads.
        let recovered_up_to = self.recovered_up_to;
        if entries.iter().all(|e| e.cached.is_some()) {
            return Ok(entries
                .into_iter()
                .map(|e| item(e, recovered_up_to))
                .collect());
        }
        tokio::task::spawn_blocking(move || {
            entries
                .into_iter()
                .map(|e| item(e, recovered_up_to))
                .collect()
        })
        .await
        .map_err(|e| crate::wal::WalError::Io {
            path: "decoding write-ahead log entries".into(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

/// What is already stored of a round's batches.
struct Stored {
    /// Batches with a marker: stored whole.
    done: HashSet<Uuid>,
    /// Call ids and node samples of unmarked batches that are there already.
    calls: HashSet<Uuid>,
    samples: HashSet<(String, i64)>,
}

/// A round whose check and preparation took longer than this is checked again before it is
/// sent: the collector may have been frozen (a paused process, a stalled VM) past the
/// gateway's send timeout, so the gateway may have given the same batch to another collector
/// meanwhile. Well below the gateway's 10 s `collector_timeout`.
const STALL: Duration = Duration::from_secs(2);

/// The batches of a round whose rows must be looked up: unmarked (`done` holds those with a
/// marker) and maybe stored (`check`, or flagged so); with the spans of their rows' times.
struct RowCheck {
    batches: Vec<Uuid>,
    calls_ts: Option<TsRange>,
    samples_ts: Option<TsRange>,
}

impl RowCheck {
    fn of(round: &[Item], check: bool, done: &HashSet<Uuid>) -> RowCheck {
        let items: Vec<&Item> = round
            .iter()
            .filter(|i| (check || i.maybe_stored) && !done.contains(&i.batch_id))
            .collect();
        // Bounded by the rows' times: `ts` leads the sort key.
        let (calls_ts, samples_ts) = ts_ranges(items.iter().copied());
        RowCheck {
            batches: items.iter().map(|i| i.batch_id).collect(),
            calls_ts,
            samples_ts,
        }
    }
}

impl Rounds {
    /// Reads what is stored of `round`: the markers of every batch (one lookup by
    /// `ingest_batches`' sort key; a fresh batch can have been stored by another collector
    /// when this one answered the gateway too late), and the rows of the unmarked batches
    /// that may be stored (`check`, or flagged so).
    async fn stored(&self, round: &[Item], check: bool) -> Result<Stored, RoundError> {
        let all: Vec<Uuid> = round.iter().map(|i| i.batch_id).collect();
        let done = ingest::stored_batches(&self.store, &all)
            .await
            .map_err(RoundError::Check)?;
        // Of the unmarked batches, which rows are there already?
        let RowCheck {
            batches: unmarked,
            calls_ts,
            samples_ts,
        } = RowCheck::of(round, check, &done);
        let calls = match calls_ts {
            Some(ts) => ingest::stored_call_ids(&self.store, &unmarked, ts)
                .await
                .map_err(RoundError::Check)?,
            None => HashSet::new(),
        };
        let samples = match samples_ts {
            Some(ts) => ingest::stored_node_samples(&self.store, &unmarked, ts)
                .await
                .map_err(RoundError::Check)?,
            None => HashSet::new(),
        };
        Ok(Stored {
            done,
            calls,
            samples,
        })
    }

    async fn store_round(&self, round: &[Item], check: bool) -> Result<(), RoundError> {
        let since = Instant::now();
        let mut rows = Rows::build(round, &self.stored(round, check).await?, |_| 0, 1);
        if !check && since.elapsed() > STALL {
            // Frozen between the check and the insert: look again, rows included.
            rows = Rows::build(round, &self.stored(round, true).await?, |_| 0, 1);
        }
        ingest::insert_calls(&self.store, &rows.calls[0])
            .await
            .map_err(RoundError::Insert)?;
        ingest::insert_node_samples(&self.store, &rows.samples)
            .await
            .map_err(RoundError::Insert)?;
        ingest::mark_stored(&self.store, &rows.marks, &self.name, now_secs())
            .await
            .map_err(RoundError::Mark)?;
        self.count_round(&rows);
        Ok(())
    }

    fn count_round(&self, rows: &Rows<'_>) {
        let n = rows.calls.iter().map(Vec::len).sum::<usize>() + rows.samples.len();
        Metrics::add(&self.metrics.rows_inserted, n as u64);
        Metrics::add(&self.metrics.rows_skipped_as_stored, rows.skipped);
        Metrics::add(&self.metrics.inserts, 1);
        self.metrics.insert_rows.observe(n as u64);
    }
}

/// A round's rows to insert, leaving out what is stored: call rows per shard (one list off a
/// cluster), node sample rows, and the markers to write after them.
struct Rows<'a> {
    calls: Vec<Vec<ApiCallRow<'a>>>,
    samples: Vec<NodeMetricRow<'a>>,
    marks: Vec<(Uuid, BatchKind, u32)>,
    skipped: u64,
}

impl<'a> Rows<'a> {
    /// `shard_of` places each call row in one of `shards` lists.
    fn build(
        round: &'a [Item],
        stored: &Stored,
        shard_of: impl Fn(&Uuid) -> usize,
        shards: usize,
    ) -> Rows<'a> {
        let mut rows = Rows {
            calls: (0..shards.max(1)).map(|_| Vec::new()).collect(),
            samples: Vec::new(),
            marks: Vec::new(),
            skipped: 0,
        };
        for item in round {
            if stored.done.contains(&item.batch_id) {
                rows.skipped += item.batch.len() as u64;
                continue;
            }
            match &*item.batch {
                Batch::Calls(records) => {
                    for r in records {
                        if stored.calls.contains(&r.call_id) {
                            rows.skipped += 1;
                        } else {
                            rows.calls[shard_of(&r.call_id)]
                                .push(ApiCallRow::new(r, item.batch_id));
                        }
                    }
                    rows.marks
                        .push((item.batch_id, BatchKind::Calls, records.len() as u32));
                }
                Batch::Samples(values) => {
                    for v in values {
                        if stored.samples.contains(&(v.node.clone(), v.ts_us)) {
                            rows.skipped += 1;
                        } else {
                            rows.samples.push(NodeMetricRow::new(v, item.batch_id));
                        }
                    }
                    rows.marks
                        .push((item.batch_id, BatchKind::NodeSamples, values.len() as u32));
                }
            }
        }
        rows
    }
}

/// How long a check waits for a replica to fetch what its shard's log announces
/// (`SYSTEM SYNC REPLICA`); then the check fails and the part is tried again later.
const SYNC_TIMEOUT_SECS: u32 = 20;

/// A part of a round made ready for a cluster: built once per part (with the check of what is
/// stored), then sent as it is on every retry, so that a replica recognizes a block it already
/// has, whichever replica took it the first time.
pub(crate) struct Prepared<'a> {
    /// The layout the rows were split by (`shards` mode).
    topology: Option<gatewatch_store::shards::Topology>,
    /// Call rows per shard (index into the topology's shards; one list in `distributed` mode).
    rows: Rows<'a>,
    /// Per shard, whether its rows are stored; then whether the node samples are.
    shard_done: Vec<bool>,
    samples_done: bool,
}

impl Rounds {
    /// [`Rounds::store_round`] on a cluster: the part is prepared once (see
    /// [`Rounds::prepare_cluster`]), then each shard not yet stored gets its rows (all shards
    /// at once), then the node samples, then the markers.
    async fn store_round_cluster<'a>(
        &self,
        cluster: &Cluster,
        round: &'a [Item],
        check: bool,
        prepared: &mut Option<Prepared<'a>>,
    ) -> Result<(), RoundError> {
        let p = match prepared {
            Some(p) => p,
            None => {
                let since = Instant::now();
                let mut p = self.prepare_cluster(cluster, round, check).await?;
                if !check && since.elapsed() > STALL {
                    // Frozen between the check and the first send: look again, rows included.
                    p = self.prepare_cluster(cluster, round, true).await?;
                }
                prepared.insert(p)
            }
        };
        let topology = p.topology.as_ref();
        let sends =
            p.rows
                .calls
                .iter()
                .enumerate()
                .filter(|(i, rows)| !p.shard_done[*i] && !rows.is_empty())
                .map(|(i, rows)| async move {
                    let r = match topology {
                        Some(t) => {
                            cluster
                                .on_shard(t, i, |s| async move {
                                    shards::insert_calls_local(&s, rows).await
                                })
                                .await
                        }
                        None => cluster
                            .any(
                                |s| async move { shards::insert_calls_distributed(&s, rows).await },
                            )
                            .await,
                    };
                    (i, r)
                });
        let mut failed: Option<gatewatch_store::Error> = None;
        for (i, r) in join_all(sends).await {
            match r {
                Ok(()) => p.shard_done[i] = true,
                Err(e) => {
                    // A refusal of the data decides (the part is split); else the first error.
                    if failed
                        .as_ref()
                        .is_none_or(|f| !f.is_permanent() && e.is_permanent())
                    {
                        failed = Some(e);
                    }
                }
            }
        }
        if let Some(e) = failed {
            return Err(RoundError::Insert(e));
        }
        if !p.samples_done && !p.rows.samples.is_empty() {
            let rows = &p.rows.samples;
            cluster
                .any(|s| async move { ingest::insert_node_samples_cluster(&s, rows).await })
                .await
                .map_err(RoundError::Insert)?;
        }
        p.samples_done = true;
        let (marks, name, now) = (&p.rows.marks, self.name.as_str(), now_secs());
        cluster
            .any(|s| async move { ingest::mark_stored(&s, marks, name, now).await })
            .await
            .map_err(RoundError::Mark)?;
        self.count_round(&p.rows);
        Ok(())
    }

    /// Splits a part by shard, leaving out what is stored already: batches with a marker (read
    /// on any server: the markers table is on all of them), and, of the others that may be
    /// stored, rows a shard holds (read on a replica after `SYSTEM SYNC REPLICA`, so a replica
    /// that lags behind cannot answer "not there" for rows its shard has).
    async fn prepare_cluster<'a>(
        &self,
        cluster: &Cluster,
        round: &'a [Item],
        check: bool,
    ) -> Result<Prepared<'a>, RoundError> {
        let topology = match cluster.config.mode {
            ClusterMode::Shards => Some(cluster.topology().await.map_err(RoundError::Layout)?),
            ClusterMode::Distributed => None,
        };
        let all: Vec<Uuid> = round.iter().map(|i| i.batch_id).collect();
        let all = &all;
        let done = cluster
            .any(|s| async move { ingest::stored_batches(&s, all).await })
            .await
            .map_err(RoundError::Check)?;
        let RowCheck {
            batches: unmarked,
            calls_ts,
            samples_ts,
        } = RowCheck::of(round, check, &done);
        let unmarked = &unmarked;
        let mut calls: HashSet<Uuid> = HashSet::new();
        if let Some(ts) = calls_ts {
            match &topology {
                Some(t) => {
                    let reads = (0..t.shards.len()).map(|i| {
                        cluster.on_shard(t, i, move |s| async move {
                            shards::sync_replica(&s, shards::CALLS_LOCAL, SYNC_TIMEOUT_SECS)
                                .await?;
                            shards::stored_call_ids_local(&s, unmarked, ts).await
                        })
                    });
                    for r in join_all(reads).await {
                        calls.extend(r.map_err(RoundError::Check)?);
                    }
                }
                None => {
                    calls = cluster
                        .any(|s| async move { ingest::stored_call_ids(&s, unmarked, ts).await })
                        .await
                        .map_err(RoundError::Check)?;
                }
            }
        }
        let samples = match samples_ts {
            Some(ts) => cluster
                .any(|s| async move { ingest::stored_node_samples(&s, unmarked, ts).await })
                .await
                .map_err(RoundError::Check)?,
            None => HashSet::new(),
        };
        let stored = Stored {
            done,
            calls,
            samples,
        };
        let n_shards = topology.as_ref().map_or(1, |t| t.shards.len());
        let rows = match &topology {
            Some(t) => Rows::build(round, &stored, |id| t.shard_of(id), n_shards),
            None => Rows::build(round, &stored, |_| 0, 1),
        };
        Ok(Prepared {
            topology,
            rows,
            shard_done: vec![false; n_shards],
            samples_done: false,
        })
    }
}

/// Decodes one entry (unless the ingest side left its values in the cache).
fn item(e: Entry<Batch>, recovered_up_to: u64) -> Item {
    let batch = match e.cached {
        Some(b) => b,
        None => Arc::new(match e.header.kind {
            Kind::Calls => Batch::Calls(decode_lines::<CallRecord>(&e.payload).values),
            Kind::NodeSamples => Batch::Samples(decode_lines::<NodeSample>(&e.payload).values),
        }),
    };
    Item {
        seq: e.header.seq,
        batch_id: e.header.batch_id,
        maybe_stored: e.header.flags & FLAG_MAYBE_STORED != 0 || e.header.seq <= recovered_up_to,
        batch,
    }
}

/// First and last second, inclusive.
type TsRange = (u32, u32);

/// The span of start times (whole seconds) of the call records and of the node samples in
/// `items`; `None` where there are none.
fn ts_ranges<'a>(items: impl Iterator<Item = &'a Item>) -> (Option<TsRange>, Option<TsRange>) {
    let widen = |r: &mut Option<TsRange>, t: u32| {
        *r = Some(r.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
    };
    let (mut calls, mut samples) = (None, None);
    for item in items {
        match &*item.batch {
            Batch::Calls(v) => v.iter().for_each(|r| widen(&mut calls, r.ts_secs())),
            Batch::Samples(v) => v.iter().for_each(|s| widen(&mut samples, s.ts_secs())),
        }
    }
    (calls, samples)
}

fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// 200 ms doubling to 10 s.
#[derive(Default)]
struct Backoff {
    n: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let ms = 200u64.saturating_mul(1 << self.n.min(6)).min(10_000);
        self.n += 1;
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    //! The split and the quarantine, with failures injected by the clickhouse crate's mock
    //! server (each request answered by the next handler, in order). A real refusal from a real
    //! ClickHouse is in `tests/it/poison.rs`.
    use super::*;
    use clickhouse::test::{handlers, Mock};
    use gatewatch_model::CallRecord;
    use gatewatch_store::{StoreConfig, WireCompression};

    #[derive(clickhouse::Row, serde::Serialize, serde::Deserialize)]
    struct Id {
        #[serde(with = "clickhouse::serde::uuid")]
        id: Uuid,
    }

    fn rounds(mock: &Mock, dir: &std::path::Path) -> Rounds {
        Rounds {
            store: Store::new(StoreConfig {
                url: mock.url().to_string(),
                database: "test".into(),
                compression: WireCompression::None,
                ..StoreConfig::default()
            }),
            metrics: Arc::new(Metrics::default()),
            name: "c1".into(),
            quarantine: Arc::new(Quarantine::new(dir.join("quarantine"))),
            cluster: None,
        }
    }

    fn round(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item {
                seq: 10 + i as u64,
                batch_id: Uuid::now_v7(),
                maybe_stored: false,
                batch: Arc::new(Batch::Calls(vec![CallRecord::new(
                    Uuid::now_v7(),
                    1_764_000_000_000_000,
                    "n",
                    "GET",
                    "/",
                )])),
            })
            .collect()
    }

    /// A part stored after a failure: it is checked first (markers, then rows), then inserted
    /// and marked.
    fn checked_store(mock: &Mock) {
        mock.add(handlers::provide(Vec::<Id>::new()));
        mock.add(handlers::provide(Vec::<Id>::new()));
        mock.add(handlers::record::<Id>());
        mock.add(handlers::record::<Id>());
    }

    fn checks(mock: &Mock) {
        mock.add(handlers::provide(Vec::<Id>::new()));
        mock.add(handlers::provide(Vec::<Id>::new()));
    }

    /// The first try of a fresh round: only the markers are read (none found).
    fn markers(mock: &Mock) {
        mock.add(handlers::provide(Vec::<Id>::new()));
    }

    #[tokio::test]
    async fn a_refused_batch_is_split_out_and_set_aside_and_the_rest_stored() {
        let mock = Mock::new();
        let dir = tempfile::tempdir().unwrap();
        let r = rounds(&mock, dir.path());
        let items = round(3);
        let bad = items[2].batch_id;
        // The whole round: refused (Code 53, a type mismatch).
        markers(&mock);
        mock.add(handlers::exception(53));
        // Split: [0] is stored; [1, 2] refused again and split: [1] stored, [2] refused alone
        // twice, then set aside and recorded.
        checked_store(&mock);
        checks(&mock);
        mock.add(handlers::exception(53));
        checked_store(&mock);
        checks(&mock);
        mock.add(handlers::exception(53));
        checks(&mock);
        mock.add(handlers::exception(53));
        mock.add(handlers::record::<Id>());
        let (_tx, stop) = watch::channel(false);
        let done = r.clone().store_until_done(items, stop).await;
        assert_eq!(
            done,
            Some(12),
            "the round is acknowledged whole, up to its last entry"
        );
        assert_eq!(r.metrics.batches_quarantined.load(Relaxed), 1);
        assert_eq!(r.metrics.rows_quarantined.load(Relaxed), 1);
        assert_eq!(r.metrics.inserts.load(Relaxed), 2);
        assert_eq!(r.metrics.clickhouse_down.load(Relaxed), 0);
        let files: Vec<String> = std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(
            files.iter().all(|f| f.contains(&bad.to_string())),
            "{files:?}"
        );
        let about = files.iter().find(|f| f.ends_with(".error.json")).unwrap();
        let about: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("quarantine").join(about)).unwrap(),
        )
        .unwrap();
        assert!(
            about["error"].as_str().unwrap().contains("Code: 53"),
            "{about}"
        );
    }

    #[tokio::test]
    async fn passing_errors_are_retried_whole_never_split() {
        let mock = Mock::new();
        let dir = tempfile::tempdir().unwrap();
        let r = rounds(&mock, dir.path());
        // ClickHouse overloaded (503 without an exception code), then too many parts (252,
        // not about partitions), then the round goes in whole.
        markers(&mock);
        mock.add(handlers::failure(hyper::StatusCode::SERVICE_UNAVAILABLE));
        checks(&mock);
        mock.add(handlers::exception(252));
        checked_store(&mock);
        let (_tx, stop) = watch::channel(false);
        assert_eq!(r.clone().store_until_done(round(4), stop).await, Some(13));
        assert_eq!(r.metrics.batches_quarantined.load(Relaxed), 0);
        assert_eq!(r.metrics.insert_errors.load(Relaxed), 2);
        assert_eq!(r.metrics.inserts.load(Relaxed), 1);
        assert!(!dir.path().join("quarantine").exists());
    }

    #[tokio::test]
    async fn a_setup_problem_waits_instead_of_setting_everything_aside() {
        let mock = Mock::new();
        let dir = tempfile::tempdir().unwrap();
        let r = rounds(&mock, dir.path());
        // Code 60: the table does not exist (not migrated). The same for every batch: retried.
        markers(&mock);
        mock.add(handlers::exception(60));
        checks(&mock);
        mock.add(handlers::exception(60));
        checked_store(&mock);
        let (_tx, stop) = watch::channel(false);
        assert_eq!(r.clone().store_until_done(round(2), stop).await, Some(11));
        assert_eq!(r.metrics.batches_quarantined.load(Relaxed), 0);
        assert_eq!(r.metrics.inserts.load(Relaxed), 1);
    }
}
