//! Single calls from the raw table: call search (the page's keys, then their rows), one
//! call's detail, the top-N calls and clients. Every filter value is bound.

use gatewatch_model::report::{ReportParams, Window};
use serde::Deserialize;
use uuid::Uuid;

use super::filter::{before_position, call_conditions, conditions};
use super::{Scope, Source};
use crate::query::Sql;
use crate::{Result, Store};

/// `WHERE …` of a search or top-N: the window and filters, then the call search filters.
fn search_conditions(params: &ReportParams, window: &Window) -> Sql {
    let mut c = conditions(&Scope {
        params,
        window,
        source: Source::Raw,
    });
    c.append(&call_conditions(params));
    c
}

/// Where a search page sorts: `(ts_us, call_id)`.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct CallKey {
    pub ts_us: i64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub call_id: Uuid,
}

/// The keys of up to `want` calls matching the search, newest first (`ts_us DESC,
/// toString(call_id) DESC`), strictly older than `before` when given, and not before `lo`
/// (Unix seconds) when given: only the sort keys, so ClickHouse sorts two columns.
pub async fn search_keys(
    store: &Store,
    params: &ReportParams,
    window: &Window,
    before: Option<(i64, Uuid)>,
    lo: Option<i64>,
    want: u32,
) -> Result<Vec<CallKey>> {
    let mut s = Sql::new("SELECT ts_us, call_id FROM api_calls WHERE ");
    s.append(&search_conditions(params, window));
    if let Some((ts_us, id)) = before {
        s.append(&before_position(ts_us, &id));
    }
    if let Some(lo) = lo {
        s.push(" AND ts >= ").time(lo);
    }
    s.push(" ORDER BY ts_us DESC, toString(call_id) DESC LIMIT ");
    s.u64(u64::from(want));
    s.fetch_all(store).await
}

/// One row of a call search.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct SearchRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub call_id: Uuid,
    pub request_id: String,
    pub ts_us: i64,
    pub node: String,
    pub api_id: String,
    pub api_name: String,
    pub client_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub outcome: String,
    pub latency_us: u64,
    pub upstream_latency_us: u64,
    pub overhead_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub upstream: String,
    pub api_version: String,
}

const SEARCH_COLUMNS: &str = "call_id, request_id, ts_us, node, api_id, api_name, client_id, \
     method, path, status, toString(outcome), latency_us, upstream_latency_us, overhead_us, \
     request_bytes, response_bytes, upstream, api_version";

/// The search rows of `ids`, whose keys lie between `lo_us` and `hi_us`, newest first, at
/// most `want`.
pub async fn search_rows(
    store: &Store,
    lo_us: i64,
    hi_us: i64,
    ids: &[Uuid],
    want: u32,
) -> Result<Vec<SearchRow>> {
    let mut s = Sql::new("SELECT ");
    s.push(SEARCH_COLUMNS).push(" FROM api_calls WHERE ts >= ");
    s.time(lo_us.div_euclid(1_000_000).max(0));
    s.push(" AND ts <= ")
        .time(hi_us.div_euclid(1_000_000).max(0));
    s.push(" AND ").in_uuids("call_id", ids);
    s.push(" ORDER BY ts_us DESC, toString(call_id) DESC LIMIT ");
    s.u64(u64::from(want));
    s.fetch_all(store).await
}

/// Every column of one call.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct DetailRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub call_id: Uuid,
    pub request_id: String,
    pub ts_us: i64,
    pub node: String,
    pub api_id: String,
    pub api_name: String,
    pub module: String,
    pub route: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub client_id: String,
    pub app_id: String,
    pub api_key_id: String,
    pub client_ip: String,
    pub user_agent: String,
    pub upstream: String,
    pub status: u16,
    pub outcome: String,
    pub latency_us: u64,
    pub upstream_latency_us: u64,
    pub overhead_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub request_headers: String,
    pub response_headers: String,
    pub request_body: String,
    pub response_body: String,
    pub error: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
    pub truncated: Vec<String>,
    pub http_version: String,
    pub tls_version: String,
    pub tls_cipher: String,
    pub client_cert: String,
    pub auth_method: String,
    pub token_jti: String,
    pub scopes: String,
    pub findings: Vec<String>,
    pub policies: Vec<String>,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub api_version: String,
}

const DETAIL_COLUMNS: &str = "call_id, request_id, ts_us, node, api_id, api_name, module, route, \
     method, path, query, client_id, app_id, api_key_id, client_ip, user_agent, upstream, status, \
     toString(outcome), latency_us, upstream_latency_us, overhead_us, request_bytes, \
     response_bytes, request_headers, response_headers, request_body, response_body, error, \
     batch_id, truncated, http_version, tls_version, tls_cipher, client_cert, auth_method, \
     token_jti, scopes, findings, policies, trace_id, span_id, parent_span_id, api_version";

/// One call by id, looked for within `[from, to]` (Unix seconds) when given.
pub async fn detail(
    store: &Store,
    id: &Uuid,
    within: Option<(i64, i64)>,
) -> Result<Option<DetailRow>> {
    let mut s = Sql::new("SELECT ");
    s.push(DETAIL_COLUMNS)
        .push(" FROM api_calls WHERE call_id = ")
        .uuid(id);
    if let Some((from, to)) = within {
        s.push(" AND ts >= ").time(from.max(0));
        s.push(" AND ts <= ").time(to.max(0));
    }
    s.push(" LIMIT 1");
    s.fetch_optional(store).await
}

/// One call of a top-N list.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct TopCallRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub call_id: Uuid,
    pub ts_us: i64,
    pub api_id: String,
    pub api_name: String,
    pub client_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub outcome: String,
    pub latency_us: u64,
    pub upstream_latency_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// What a top-N list of calls ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKey {
    Latency,
    /// Request + response bytes.
    Bytes,
}

/// The `limit` calls of the search ranking first by `key` (ties by start time, then id).
pub async fn top_calls(
    store: &Store,
    params: &ReportParams,
    window: &Window,
    key: TopKey,
    limit: u32,
) -> Result<Vec<TopCallRow>> {
    let mut s = Sql::new(
        "SELECT call_id, ts_us, api_id, api_name, client_id, method, path, status, \
         toString(outcome), latency_us, upstream_latency_us, request_bytes, response_bytes \
         FROM api_calls WHERE ",
    );
    s.append(&search_conditions(params, window));
    s.push(" ORDER BY ").push(match key {
        TopKey::Latency => "latency_us",
        TopKey::Bytes => "request_bytes + response_bytes",
    });
    s.push(" DESC, ts_us ASC, toString(call_id) ASC LIMIT ");
    s.u64(u64::from(limit));
    s.fetch_all(store).await
}

/// One client of the busiest-clients list.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct TopClientRow {
    pub client_id: String,
    pub calls: u64,
    pub refused: u64,
    pub server_errors: u64,
    pub bytes: u64,
    pub latency_sum: u64,
    pub latency_max: u64,
}

/// The `limit` clients with the most calls in the search (ties by client id).
pub async fn top_clients(
    store: &Store,
    params: &ReportParams,
    window: &Window,
    limit: u32,
) -> Result<Vec<TopClientRow>> {
    let mut s = Sql::new("SELECT client_id, count() AS calls, countIf(");
    s.in_strs("outcome", &super::refusals());
    s.push(
        ") AS refused, countIf(status >= 500) AS server_errors, \
         sum(request_bytes + response_bytes) AS bytes, \
         sum(latency_us) AS latency_sum, max(latency_us) AS latency_max \
         FROM api_calls WHERE ",
    );
    s.append(&search_conditions(params, window));
    s.push(" GROUP BY client_id ORDER BY calls DESC, client_id ASC LIMIT ");
    s.u64(u64::from(limit));
    s.fetch_all(store).await
}
