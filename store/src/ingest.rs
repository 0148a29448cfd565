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

use std::collections::HashSet;
use uuid::Uuid;

use crate::rows::{BatchKind, IngestBatchRow};
use crate::{sql, Result, Store, UuidRow};

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
    if batch_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let q = format!(
        "SELECT call_id AS id FROM api_calls WHERE ts BETWEEN toDateTime({}) AND toDateTime({}) AND batch_id IN ({})",
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
