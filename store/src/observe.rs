//! What the alerter observes: the latest node samples, when each node was last seen, and per
//! API (or per client) call counts, failures and latency over a window. Reads go to the
//! per-minute rollup where it can answer, to the raw table only for client scopes.

use gatewatch_model::Backlog;
use serde::Deserialize;

use crate::{Result, Store};

/// Outcomes counted as failures by an error-rate rule: the upstream or the gateway failed.
/// Client errors (4xx from the upstream) and refusals are the caller's business, not an outage.
pub const FAILED_OUTCOMES: &str =
    "('upstream_error', 'timeout', 'upstream_unreachable', 'gateway_error')";

/// One mounted file system of a node sample.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskReading {
    pub mount: String,
    pub used_bytes: u64,
    pub total_bytes: u64,
}

/// The latest sample of one node (and role: each process samples its own RSS).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReading {
    pub node: String,
    pub role: String,
    pub ts_us: i64,
    pub cpu_pct: f32,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub rss_bytes: u64,
    pub disks: Vec<DiskReading>,
    /// A gateway's shipping backlog at the sample (zero for other roles).
    pub backlog: Backlog,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct NodeRow {
    node: String,
    role: String,
    ts_us: i64,
    cpu_pct: f32,
    mem_used_bytes: u64,
    mem_total_bytes: u64,
    rss_bytes: u64,
    mount: Vec<String>,
    disk_used_bytes: Vec<u64>,
    disk_total_bytes: Vec<u64>,
    queue_depth: u64,
    spool_bytes: u64,
    spool_batches: u64,
    records_dropped: u64,
}

/// The newest sample of each (node, role) taken at or after `since_secs` (Unix seconds).
pub async fn latest_node_readings(store: &Store, since_secs: u32) -> Result<Vec<NodeReading>> {
    let sql = "SELECT node, role, max(ts_us) AS cur_ts, argMax(cpu_pct, ts_us) AS cur_cpu, \
               argMax(mem_used_bytes, ts_us) AS cur_mem_used, \
               argMax(mem_total_bytes, ts_us) AS cur_mem_total, \
               argMax(rss_bytes, ts_us) AS cur_rss, argMax(mount, ts_us) AS cur_mount, \
               argMax(disk_used_bytes, ts_us) AS cur_used, \
               argMax(disk_total_bytes, ts_us) AS cur_total, \
               argMax(queue_depth, ts_us) AS cur_queue, argMax(spool_bytes, ts_us) AS cur_spool, \
               argMax(spool_batches, ts_us) AS cur_batches, \
               argMax(records_dropped, ts_us) AS cur_dropped \
               FROM node_metrics WHERE ts >= toDateTime(?) GROUP BY node, role ORDER BY node, role";
    let rows: Vec<NodeRow> = store
        .client()
        .query(sql)
        .bind(since_secs)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))?;
    Ok(rows
        .into_iter()
        .map(|r| NodeReading {
            disks: r
                .mount
                .into_iter()
                .zip(r.disk_used_bytes)
                .zip(r.disk_total_bytes)
                .map(|((mount, used_bytes), total_bytes)| DiskReading {
                    mount,
                    used_bytes,
                    total_bytes,
                })
                .collect(),
            backlog: Backlog {
                queue_depth: r.queue_depth,
                spool_bytes: r.spool_bytes,
                spool_batches: r.spool_batches,
                records_dropped: r.records_dropped,
            },
            node: r.node,
            role: r.role,
            ts_us: r.ts_us,
            cpu_pct: r.cpu_pct,
            mem_used_bytes: r.mem_used_bytes,
            mem_total_bytes: r.mem_total_bytes,
            rss_bytes: r.rss_bytes,
        })
        .collect())
}

/// When each node last sent a sample, among nodes seen since `since_secs`: a node silent for
/// longer than that is no longer listed (the lookback bounds how long one is remembered).
pub async fn node_last_seen(store: &Store, since_secs: u32) -> Result<Vec<(String, i64)>> {
    #[derive(Deserialize, clickhouse::Row)]
    struct Row {
        node: String,
        last_us: i64,
    }
    let sql = "SELECT node, max(ts_us) AS last_us FROM node_metrics WHERE ts >= toDateTime(?) \
               GROUP BY node ORDER BY node";
    let rows: Vec<Row> = store
        .client()
        .query(sql)
        .bind(since_secs)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))?;
    Ok(rows.into_iter().map(|r| (r.node, r.last_us)).collect())
}

/// Calls of one API (or client) over a window.
#[derive(Debug, Clone, PartialEq, Deserialize, clickhouse::Row)]
pub struct CallWindow {
    /// The API id, or the client id for [`client_windows`].
    pub key: String,
    pub calls: u64,
    /// Calls with a [`FAILED_OUTCOMES`] outcome.
    pub failed: u64,
    /// Total latency, microseconds (for the average).
    pub latency_sum_us: u64,
    /// p95 and p99 latency, microseconds (t-digest estimates; 0 without calls).
    pub p95_us: f64,
    pub p99_us: f64,
}

impl CallWindow {
    /// Failed calls in percent of all calls (0 without calls).
    pub fn error_rate_pct(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            100.0 * self.failed as f64 / self.calls as f64
        }
    }
}

/// Per API, calls in whole minutes `[from_secs, to_secs)` from the per-minute rollup (the
/// minute holding `to_secs` is still filling: callers pass minute boundaries they want).
pub async fn api_windows(store: &Store, from_secs: u32, to_secs: u32) -> Result<Vec<CallWindow>> {
    let sql = format!(
        "SELECT api_id, countMerge(calls) AS n, \
         countMergeIf(calls, outcome IN {FAILED_OUTCOMES}) AS bad, \
         sumMerge(latency_sum) AS lat, \
         quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_q) AS q \
         FROM api_calls_1m WHERE ts >= toDateTime(?) AND ts < toDateTime(?) \
         GROUP BY api_id ORDER BY api_id"
    );
    fetch_windows(store, &sql, from_secs, to_secs).await
}

/// Per client, calls started in `[from_secs, to_secs)`, from the raw table (no rollup keeps
/// latency by client at minute grain); `ts` leads its sort key, so the window is cheap.
pub async fn client_windows(
    store: &Store,
    from_secs: u32,
    to_secs: u32,
) -> Result<Vec<CallWindow>> {
    let sql = format!(
        "SELECT client_id, count() AS n, countIf(outcome IN {FAILED_OUTCOMES}) AS bad, \
         sum(latency_us) AS lat, quantilesTDigest(0.5, 0.95, 0.99)(latency_us) AS q \
         FROM api_calls WHERE ts >= toDateTime(?) AND ts < toDateTime(?) AND client_id != '' \
         GROUP BY client_id ORDER BY client_id"
    );
    fetch_windows(store, &sql, from_secs, to_secs).await
}

async fn fetch_windows(store: &Store, sql: &str, from: u32, to: u32) -> Result<Vec<CallWindow>> {
    #[derive(Deserialize, clickhouse::Row)]
    struct Row {
        key: String,
        calls: u64,
        failed: u64,
        lat: u64,
        q: Vec<f32>,
    }
    let rows: Vec<Row> = store
        .client()
        .query(sql)
        .bind(from)
        .bind(to)
        .fetch_all()
        .await
        .map_err(|e| store.err(sql, e))?;
    Ok(rows
        .into_iter()
        .map(|r| CallWindow {
            key: r.key,
            calls: r.calls,
            failed: r.failed,
            latency_sum_us: r.lat,
            p95_us: r.q.get(1).copied().unwrap_or(0.0) as f64,
            p99_us: r.q.get(2).copied().unwrap_or(0.0) as f64,
        })
        .collect())
}

/// Calls of one (API, upstream) pair since a time: what the config page's health badges read.
#[derive(Debug, Clone, PartialEq, Deserialize, clickhouse::Row)]
pub struct UpstreamWindow {
    pub api_id: String,
    /// As the gateway records it: `http://host:port`.
    pub upstream: String,
    pub calls: u64,
    /// Calls with a [`FAILED_OUTCOMES`] outcome.
    pub failed: u64,
    /// Of those, the upstream did not answer in time.
    pub timeouts: u64,
    pub last_us: i64,
    /// Whether the newest call failed (1) or not (0).
    pub last_failed: u8,
}

/// Per (API, upstream), calls started at or after `since_secs`, from the raw table (the
/// rollups keep no upstream); `ts` leads its sort key, so a recent window is cheap.
pub async fn upstream_windows(store: &Store, since_secs: u32) -> Result<Vec<UpstreamWindow>> {
    let sql = format!(
        "SELECT api_id, upstream, count() AS calls, \
         countIf(outcome IN {FAILED_OUTCOMES}) AS failed, \
         countIf(outcome = 'timeout') AS timeouts, max(ts_us) AS last_us, \
         toUInt8(argMax(outcome IN {FAILED_OUTCOMES}, ts_us)) AS last_failed \
         FROM api_calls WHERE ts >= toDateTime(?) AND upstream != '' \
         GROUP BY api_id, upstream ORDER BY api_id, upstream"
    );
    store
        .client()
        .query(&sql)
        .bind(since_secs)
        .fetch_all()
        .await
        .map_err(|e| store.err(&sql, e))
}
