//! What makes "inserted once" hold across crashes and retries.
//!
//! Every row carries the id of the ingest batch it came in (`batch_id`), and after a batch's
//! rows are inserted its id goes into `ingest_batches`. Rows first, marker second: a crash in
//! between leaves rows without a marker, never a marker without rows. So when a batch *may*
//! have been stored before (replay after a crash, a shipper's retry), the collector asks:
//! - [`stored_batches`]: which of these batch ids have a marker → skip them whole;
//! - [`stored_call_ids`]: for the rest, which call ids are already in `api_calls` → insert only
//!   the others.
//!
//! Fresh batches (the common case) skip both questions.
//!
//! The rows themselves go in with [`insert_calls`] and [`insert_node_samples`]; a batch that
//! ClickHouse refuses for good is recorded with [`record_quarantine`] (the collector keeps its
//! records on disk), and [`quarantined_since`] counts those for the alerter.

use std::collections::HashSet;
use uuid::Uuid;

use crate::rows::{ApiCallRow, BatchKind, IngestBatchRow, NodeMetricRow};
use crate::{sql, Result, Store, UuidRow};

/// Inserts call records into `api_calls` (and so its rollups), as one INSERT.
pub async fn insert_calls(store: &Store, rows: &[ApiCallRow<'_>]) -> Result<()> {
    insert_rows::<ApiCallRow<'static>>(store, "api_calls", rows).await
}

/// Inserts node samples into `node_metrics`, as one INSERT.
pub async fn insert_node_samples(store: &Store, rows: &[NodeMetricRow<'_>]) -> Result<()> {
    insert_rows::<NodeMetricRow<'static>>(store, "node_metrics", rows).await
}

/// [`insert_node_samples`] on a cluster: `node_metrics` may be a `Distributed` table there, so
/// the insert waits until the shards have the rows (`insert_distributed_sync = 1`), and a
/// replicated table drops a block it has seen (`insert_deduplicate = 1`, a retry after an
/// answer that never came).
pub async fn insert_node_samples_cluster(store: &Store, rows: &[NodeMetricRow<'_>]) -> Result<()> {
    let client = store
        .client()
        .clone()
        .with_setting("insert_distributed_sync", "1")
        .with_setting("insert_deduplicate", "1");
    insert_with::<NodeMetricRow<'static>>(store, &client, "node_metrics", rows).await
}

async fn insert_rows<R: clickhouse::RowWrite>(
    store: &Store,
    table: &str,
    rows: &[R::Value<'_>],
) -> Result<()> {
    insert_with::<R>(store, store.client(), table, rows).await
}

/// One INSERT of `rows` into `table` through `client` (the store's, or one with settings of
/// its own); errors name `store`'s server.
pub(crate) async fn insert_with<R: clickhouse::RowWrite>(
    store: &Store,
    client: &clickhouse::Client,
    table: &str,
    rows: &[R::Value<'_>],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let what = format!("INSERT INTO {table}");
    let mut ins = client
        .insert::<R>(table)
        .await
        .map_err(|e| store.err(&what, e))?;
    for r in rows {
        ins.write(r).await.map_err(|e| store.err(&what, e))?;
    }
    ins.end().await.map_err(|e| store.err(&what, e))
}

/// Ids from `ids` that have a row in `ingest_batches`.
pub async fn stored_batches(store: &Store, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let q = format!(
        "SELECT DISTINCT batch_id AS id FROM ingest_batches WHERE batch_id IN ({})",
        sql::uuid_list(ids)
    );
    fetch_ids(store, &q).await
}

/// Call ids already in `api_calls` for rows that came in any of the batches `ids`, whose
/// calls started within `ts` (whole seconds, inclusive). The time bound turns a scan of the
/// whole table into a read of a few granules: `ts` leads the sort key.
pub async fn stored_call_ids(
    store: &Store,
    batch_ids: &[Uuid],
    ts: (u32, u32),
) -> Result<HashSet<Uuid>> {
    stored_call_ids_in(store, "api_calls", batch_ids, ts).await
}

/// [`stored_call_ids`] read from `table` (`api_calls`, or one replica's `api_calls_local`).
pub(crate) async fn stored_call_ids_in(
    store: &Store,
    table: &str,
    batch_ids: &[Uuid],
    ts: (u32, u32),
) -> Result<HashSet<Uuid>> {
    if batch_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let q = format!(
        "SELECT call_id AS id FROM {table} WHERE ts BETWEEN toDateTime({}) AND toDateTime({}) AND batch_id IN ({})",
        ts.0,
        ts.1,
        sql::uuid_list(batch_ids)
    );
    fetch_ids(store, &q).await
}

/// `(node, ts_us)` of node samples already stored for any of the batches `ids`, taken within
/// `ts` (whole seconds, inclusive).
pub async fn stored_node_samples(
    store: &Store,
    batch_ids: &[Uuid],
    ts: (u32, u32),
) -> Result<HashSet<(String, i64)>> {
    if batch_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let q = format!(
        "SELECT node, ts_us FROM node_metrics WHERE ts BETWEEN toDateTime({}) AND toDateTime({}) AND batch_id IN ({})",
        ts.0,
        ts.1,
        sql::uuid_list(batch_ids)
    );
    let rows: Vec<(String, i64)> = store
        .client()
        .query(&q)
        .fetch_all()
        .await
        .map_err(|e| store.err(&q, e))?;
    Ok(rows.into_iter().collect())
}

/// Writes the markers of batches whose rows are now stored.
pub async fn mark_stored(
    store: &Store,
    batches: &[(Uuid, BatchKind, u32)],
    collector: &str,
    now_secs: u32,
) -> Result<()> {
    if batches.is_empty() {
        return Ok(());
    }
    let mut ins = store
        .client()
        .insert::<IngestBatchRow>("ingest_batches")
        .await
        .map_err(|e| store.err("INSERT INTO ingest_batches", e))?;
    for &(batch_id, kind, rows) in batches {
        ins.write(&IngestBatchRow {
            batch_id,
            kind: kind as i8,
            rows,
            collector,
            ts: now_secs,
        })
        .await
        .map_err(|e| store.err("INSERT INTO ingest_batches", e))?;
    }
    ins.end()
        .await
        .map_err(|e| store.err("INSERT INTO ingest_batches", e))
}

async fn fetch_ids(store: &Store, q: &str) -> Result<HashSet<Uuid>> {
    let rows: Vec<UuidRow> = store
        .client()
        .query(q)
        .fetch_all()
        .await
        .map_err(|e| store.err(q, e))?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// One batch set aside by a collector (a row of `ingest_quarantine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// When it was set aside, Unix seconds.
    pub ts: u32,
    pub batch_id: Uuid,
    pub kind: BatchKind,
    pub rows: u32,
    /// The collector that set it aside (its node name).
    pub collector: String,
    /// Where its records are, on that collector's disk.
    pub file: String,
    /// What ClickHouse said.
    pub error: String,
}

#[derive(clickhouse::Row, serde::Serialize)]
struct QuarantineRow<'a> {
    ts: u32,
    #[serde(with = "clickhouse::serde::uuid")]
    batch_id: Uuid,
    kind: i8,
    rows: u32,
    collector: &'a str,
    file: &'a str,
    error: &'a str,
}

/// Records that a batch was set aside (the collector has written its file first).
pub async fn record_quarantine(store: &Store, q: &Quarantined) -> Result<()> {
    let row = QuarantineRow {
        ts: q.ts,
        batch_id: q.batch_id,
        kind: q.kind as i8,
        rows: q.rows,
        collector: &q.collector,
        file: &q.file,
        error: &q.error,
    };
    insert_rows::<QuarantineRow<'static>>(store, "ingest_quarantine", std::slice::from_ref(&row))
        .await
}

/// Batches set aside at or after `since_secs` (Unix seconds), by every collector.
pub async fn quarantined_since(store: &Store, since_secs: u32) -> Result<u64> {
    let q = "SELECT count() FROM ingest_quarantine WHERE ts >= toDateTime(?)";
    store
        .client()
        .query(q)
        .bind(since_secs)
        .fetch_one::<u64>()
        .await
        .map_err(|e| store.err(q, e))
}

/// The newest `limit` quarantine records, newest first.
pub async fn recent_quarantines(store: &Store, limit: u32) -> Result<Vec<Quarantined>> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Row {
        ts: u32,
        #[serde(with = "clickhouse::serde::uuid")]
        batch_id: Uuid,
        kind: i8,
        rows: u32,
        collector: String,
        file: String,
        error: String,
    }
    let q = "SELECT ts, batch_id, kind, rows, collector, file, error FROM ingest_quarantine \
             ORDER BY ts DESC, batch_id LIMIT ?";
    let rows: Vec<Row> = store
        .client()
        .query(q)
        .bind(limit)
        .fetch_all()
        .await
        .map_err(|e| store.err(q, e))?;
    Ok(rows
        .into_iter()
        .map(|r| Quarantined {
            ts: r.ts,
            batch_id: r.batch_id,
            kind: if r.kind == BatchKind::NodeSamples as i8 {
                BatchKind::NodeSamples
            } else {
                BatchKind::Calls
            },
            rows: r.rows,
            collector: r.collector,
            file: r.file,
            error: r.error,
        })
        .collect())
}
