//! Typed rows of the shared tables, in column order, and their conversion from the model.
//!
//! Inserts use plain `RowBinary` (validation off, see [`crate::Store::new`]), so field order and
//! types here must match the migrations exactly; the store's integration test inserts and reads
//! back every column to hold them together.

use clickhouse::Row;
use gatewatch_model::{CallRecord, Header, NodeSample};
use serde::Serialize;
use uuid::Uuid;

/// One row of `api_calls`, borrowing the record's strings.
#[derive(Debug, Row, Serialize)]
pub struct ApiCallRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub call_id: Uuid,
    pub request_id: &'a str,
    pub ts: u32,
    pub ts_us: i64,
    pub node: &'a str,
    pub api_id: &'a str,
    pub api_name: &'a str,
    pub module: &'a str,
    pub route: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub client_id: &'a str,
    pub app_id: &'a str,
    pub api_key_id: &'a str,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    pub upstream: &'a str,
    pub status: u16,
    pub outcome: i8,
    pub latency_us: u64,
    pub upstream_latency_us: u64,
    pub overhead_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub request_headers: String,
    pub response_headers: String,
    pub request_body: &'a str,
    pub response_body: &'a str,
    pub error: &'a str,
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
    /// Added by migration 9 (so after `batch_id`): the fields the gateway cut.
    pub truncated: Vec<&'a str>,
    /// Added by migration 11: the protocol, TLS and client certificate of the call.
    pub http_version: &'a str,
    pub tls_version: &'a str,
    pub tls_cipher: &'a str,
    pub client_cert: &'a str,
    /// Added by migration 12: how the call was authenticated.
    pub auth_method: &'a str,
    pub token_jti: &'a str,
    pub scopes: &'a str,
    /// Added by migration 14: what the request policies found and did.
    pub findings: Vec<&'a str>,
    pub policies: Vec<&'a str>,
    /// Added by migration 15: the call's W3C trace context (hex; empty when none).
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub parent_span_id: &'a str,
    /// Added by migration 16: the version of the API that answered.
    pub api_version: &'a str,
}

impl<'a> ApiCallRow<'a> {
    /// The row for `r`, stored as part of ingest batch `batch_id`.
    pub fn new(r: &'a CallRecord, batch_id: Uuid) -> ApiCallRow<'a> {
        ApiCallRow {
            call_id: r.call_id,
            request_id: &r.request_id,
            ts: r.ts_secs(),
            ts_us: r.ts_us,
            node: &r.node,
            api_id: &r.api_id,
            api_name: &r.api_name,
            module: &r.module,
            route: &r.route,
            method: &r.method,
            path: &r.path,
            query: &r.query,
            client_id: &r.client_id,
            app_id: &r.app_id,
            api_key_id: &r.api_key_id,
            client_ip: &r.client_ip,
            user_agent: &r.user_agent,
            upstream: &r.upstream,
            status: r.status,
            outcome: r.outcome.code(),
            latency_us: r.latency_us,
            upstream_latency_us: r.upstream_latency_us,
            overhead_us: r.overhead_us,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            request_headers: headers_json(&r.request_headers),
            response_headers: headers_json(&r.response_headers),
            request_body: &r.request_body,
            response_body: &r.response_body,
            error: &r.error,
            batch_id,
            truncated: r.truncated.iter().map(String::as_str).collect(),
            http_version: &r.http_version,
            tls_version: &r.tls_version,
            tls_cipher: &r.tls_cipher,
            client_cert: &r.client_cert,
            auth_method: &r.auth_method,
            token_jti: &r.token_jti,
            scopes: &r.scopes,
            findings: r.findings.iter().map(String::as_str).collect(),
            policies: r.policies.iter().map(String::as_str).collect(),
            trace_id: &r.trace_id,
            span_id: &r.span_id,
            parent_span_id: &r.parent_span_id,
            api_version: &r.api_version,
        }
    }
}

/// Headers are kept as a JSON array of `[name, value]` pairs; empty when none were captured.
fn headers_json(h: &[Header]) -> String {
    if h.is_empty() {
        String::new()
    } else {
        serde_json::to_string(h).unwrap_or_default()
    }
}

/// One row of `node_metrics`.
#[derive(Debug, Row, Serialize)]
pub struct NodeMetricRow<'a> {
    pub ts: u32,
    pub ts_us: i64,
    pub node: &'a str,
    pub role: &'a str,
    pub cpu_pct: f32,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub rss_bytes: u64,
    pub mount: Vec<&'a str>,
    pub disk_used_bytes: Vec<u64>,
    pub disk_total_bytes: Vec<u64>,
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
    pub queue_depth: u64,
    pub spool_bytes: u64,
    pub spool_batches: u64,
    pub records_dropped: u64,
}

impl<'a> NodeMetricRow<'a> {
    pub fn new(s: &'a NodeSample, batch_id: Uuid) -> NodeMetricRow<'a> {
        NodeMetricRow {
            ts: s.ts_secs(),
            ts_us: s.ts_us,
            node: &s.node,
            role: &s.role,
            cpu_pct: s.cpu_pct,
            mem_used_bytes: s.mem_used_bytes,
            mem_total_bytes: s.mem_total_bytes,
            rss_bytes: s.rss_bytes,
            mount: s.disks.iter().map(|d| d.mount.as_str()).collect(),
            disk_used_bytes: s.disks.iter().map(|d| d.used_bytes).collect(),
            disk_total_bytes: s.disks.iter().map(|d| d.total_bytes).collect(),
            batch_id,
            queue_depth: s.backlog.queue_depth,
            spool_bytes: s.backlog.spool_bytes,
            spool_batches: s.backlog.spool_batches,
            records_dropped: s.backlog.records_dropped,
        }
    }
}

/// What an ingest batch carried (the `ingest_batches.kind` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum BatchKind {
    Calls = 1,
    NodeSamples = 2,
}

/// One row of `ingest_batches`: proof that a batch's rows are stored.
#[derive(Debug, Row, Serialize)]
pub struct IngestBatchRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub batch_id: Uuid,
    pub kind: i8,
    pub rows: u32,
    pub collector: &'a str,
    pub ts: u32,
}
