//! Aggregate report reads: calls by outcome class per group or per bucket, latency figures,
//! API names, quota use. From whichever table the caller chose ([`super::Scope`]).

use serde::Deserialize;

use super::agg::Agg;
use super::filter::{bucket_expr, conditions};
use super::{ClassOutcomes, Scope, Source};
use crate::query::Sql;
use crate::{Result, Store};

/// A grouping key of [`counts_by`]: a column (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// One group (`''`).
    None,
    Api,
    Client,
    Outcome,
    /// Raw table only.
    Upstream,
    /// Raw table only.
    Path,
    /// The API version the call recorded. Raw table only.
    Version,
}

impl Key {
    fn expr(self) -> &'static str {
        match self {
            Key::None => "''",
            Key::Api => "api_id",
            Key::Client => "client_id",
            Key::Outcome => "toString(outcome)",
            Key::Upstream => "upstream",
            Key::Path => "path",
            Key::Version => "api_version",
        }
    }
}

/// Which rows of the scope [`counts_by`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Every outcome but `ok`.
    NotOk,
    /// Calls that reached an upstream (raw table only).
    HasUpstream,
}

/// What to group by and which rows to count.
#[derive(Debug, Clone, Copy)]
pub struct By {
    pub k1: Key,
    pub k2: Key,
    pub only: Option<Only>,
    pub limit: Option<u32>,
}

/// One group's figures: its keys, the API's name when the table keeps it (else empty),
/// calls per outcome class and total latency.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct GroupRow {
    pub g1: String,
    pub g2: String,
    pub g_name: String,
    pub c_calls: u64,
    pub c_success: u64,
    pub c_client_error: u64,
    pub c_server_error: u64,
    pub c_refused: u64,
    pub lat_sum: u64,
}

/// Calls per group, most calls first (ties by key).
pub async fn counts_by(
    store: &Store,
    scope: &Scope<'_>,
    by: By,
    classes: &ClassOutcomes,
) -> Result<Vec<GroupRow>> {
    let agg = Agg(scope.source);
    let mut s = Sql::new("SELECT ");
    s.push(by.k1.expr()).push(" AS g1, ");
    s.push(by.k2.expr()).push(" AS g2, ");
    s.push(agg.api_name()).push(" AS g_name, ");
    s.append(&agg.class_counts(classes));
    s.push(", ")
        .push(agg.latency_sum())
        .push(" AS lat_sum FROM ");
    s.push(scope.source.table()).push(" WHERE ");
    s.append(&conditions(scope));
    match by.only {
        Some(Only::NotOk) => s.push(" AND outcome != ").str("ok"),
        Some(Only::HasUpstream) => s.push(" AND upstream != ").str(""),
        None => &mut s,
    };
    s.push(" GROUP BY g1, g2 ORDER BY c_calls DESC, g1, g2");
    if let Some(n) = by.limit {
        s.push(" LIMIT ").u64(u64::from(n));
    }
    s.fetch_all(store).await
}

/// Calls by outcome class per bucket of the window (the bucket start as Unix seconds).
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct BucketRow {
    pub b: u32,
    pub c_calls: u64,
    pub c_success: u64,
    pub c_client_error: u64,
    pub c_server_error: u64,
    pub c_refused: u64,
}

/// Calls by outcome class per bucket, oldest first; empty buckets are absent.
pub async fn bucket_counts(
    store: &Store,
    scope: &Scope<'_>,
    classes: &ClassOutcomes,
) -> Result<Vec<BucketRow>> {
    let mut s = Sql::new("SELECT ");
    s.append(&bucket_expr(scope.window)).push(" AS b, ");
    s.append(&Agg(scope.source).class_counts(classes));
    s.push(" FROM ").push(scope.source.table()).push(" WHERE ");
    s.append(&conditions(scope));
    s.push(" GROUP BY b ORDER BY b");
    s.fetch_all(store).await
}

/// What the latency rows are per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyBy {
    /// One row per API (`key` the API id, `name` its name where the table keeps it, `b` 0).
    Api,
    /// One row per bucket (`b`), over every API asked for.
    Bucket,
    /// One row per recorded API version (`key` the version, `name` empty, `b` 0). Raw table
    /// only.
    Version,
    /// One row for the whole scope.
    All,
}

/// Latency figures of a group: calls, total and upstream time, slowest call (0 where the
/// table does not keep them) and p50/p95/p99 estimates in microseconds.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct LatencyRow {
    pub key: String,
    pub b: u32,
    pub name: String,
    pub calls: u64,
    pub lat_sum: u64,
    pub up_sum: u64,
    pub lat_max: u64,
    pub q: Vec<f32>,
}

/// Latency figures per `by`, ordered by key and bucket.
pub async fn latency(store: &Store, scope: &Scope<'_>, by: LatencyBy) -> Result<Vec<LatencyRow>> {
    let agg = Agg(scope.source);
    let mut s = Sql::new("SELECT ");
    match by {
        LatencyBy::Api => s
            .push("api_id AS key, toUInt32(0) AS b, ")
            .push(agg.api_name()),
        LatencyBy::Version => s.push("api_version AS key, toUInt32(0) AS b, ''"),
        LatencyBy::Bucket => s
            .push("'' AS key, ")
            .append(&bucket_expr(scope.window))
            .push(" AS b, ''"),
        LatencyBy::All => s.push("'' AS key, toUInt32(0) AS b, ''"),
    };
    s.push(" AS name, ").push(agg.calls()).push(" AS c_calls, ");
    s.push(agg.latency_sum()).push(" AS lat_sum, ");
    s.push(agg.upstream_sum()).push(" AS up_sum, ");
    s.push(agg.latency_max()).push(" AS lat_max, ");
    s.push(agg.quantiles()).push(" AS q FROM ");
    s.push(scope.source.table()).push(" WHERE ");
    s.append(&conditions(scope));
    s.push(" GROUP BY key, b ORDER BY key, b");
    s.fetch_all(store).await
}

/// An API's name as last recorded.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct NameRow {
    pub api_id: String,
    pub name: String,
}

/// API names as last recorded in `[from, to)` (Unix seconds, whole hours), from the hour
/// rollup: for tables that do not keep them.
pub async fn api_names(store: &Store, from: i64, to: i64) -> Result<Vec<NameRow>> {
    let mut s = Sql::new("SELECT api_id, anyLastMerge(api_name) AS name FROM ");
    s.push(Source::Hour.table())
        .push(" WHERE ts >= ")
        .time(from);
    s.push(" AND ts < ").time(to).push(" GROUP BY api_id");
    s.fetch_all(store).await
}

/// Calls of a client that took quota.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct UsedRow {
    pub client_id: String,
    pub used: u64,
}

/// The calls of each of `clients` in `[from, to)` (Unix seconds) that took quota (refused
/// ones did not), from `source` (the raw table or `client_api_1h` for whole hours).
pub async fn quota_used(
    store: &Store,
    source: Source,
    from: i64,
    to: i64,
    clients: &[String],
) -> Result<Vec<UsedRow>> {
    let mut s = Sql::new("SELECT client_id, ");
    s.push(Agg(source).calls()).push(" AS used FROM ");
    s.push(source.table()).push(" WHERE ts >= ").time(from);
    s.push(" AND ts < ").time(to).push(" AND ");
    s.in_strs("client_id", clients).push(" AND NOT (");
    s.in_strs("outcome", &super::refusals());
    s.push(") GROUP BY client_id");
    s.fetch_all(store).await
}
