//! Call search and one call's detail, for support: "what happened to my call?".
//!
//! - [`run`]: calls by call id, request id, client, API, node, status, status class, outcome,
//!   window and path substring, newest first, one page at a time. Pages are keyset pages: the
//!   cursor is the last row's `(ts_us, call_id)` plus the window's start as the first page saw
//!   it, so a relative range (`24h`) does not move under a walk, rows that arrive meanwhile
//!   (newer) are not shown twice, and older rows are neither skipped nor repeated. No `OFFSET`.
//! - [`export`]: the same rows, every page up to [`EXPORT_MAX_ROWS`], for `format=csv`.
//! - [`detail`]: one call with every column; headers as JSON objects, bodies pretty-printed
//!   when they are JSON (as captured and masked by the gateway).
//!
//! Only the raw table has single calls, so a search covers at most [`RAW_MAX_SECS`] (7 days):
//! ClickHouse 18.16 sorts every matching row of the window before `LIMIT`, and a week of a busy
//! site is where that stops being interactive (docs/design.md: a 30-day raw scan is hundreds of ms per
//! column). A call id bounds `ts` by its UUIDv7 time ±1 day instead, reading one or two daily
//! partitions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use gatewatch_model::report::{ReportKind, ReportParams, Window};
use gatewatch_model::FieldError;
use gatewatch_store::reports::calls::{self as store_calls, CallKey as Key, SearchRow};
use gatewatch_store::Store;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::catalog::{Ctx, Report};
use crate::error::{ReportError, Result};
use crate::queries::filter::Source;
use crate::table::{Cell, Column, Table};

/// Longest window a search of raw calls may cover.
pub const RAW_MAX_SECS: i64 = 7 * 86_400;
/// Rows per page when `limit` is not given, and most a page may hold.
pub const PAGE_DEFAULT: u32 = 50;
pub const PAGE_MAX: u32 = 1_000;
/// Most rows one CSV export holds; the summary says when it stopped there.
pub const EXPORT_MAX_ROWS: usize = 100_000;

/// How far a call id's time bounds the look-up either side.
const ID_SLACK_SECS: i64 = 86_400;

/// Refuses a raw read over more than [`RAW_MAX_SECS`].
pub fn check_raw_span(w: &Window, what: &str) -> Result<()> {
    if w.span_secs() > RAW_MAX_SECS {
        return Err(ReportError::too_large(
            "range",
            format!(
                "{what} reads single calls and covers at most {} days; choose a shorter range \
                 (the usage, traffic and latency reports cover longer ones from the rollups)",
                RAW_MAX_SECS / 86_400
            ),
        ));
    }
    Ok(())
}

/// The keyset position after a page, and the window start the walk began with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub ts_us: i64,
    pub call_id: Uuid,
    pub from_secs: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "c1.{}.{}.{}",
            self.ts_us, self.call_id, self.from_secs
        ))
    }

    pub fn decode(s: &str) -> Result<Cursor, FieldError> {
        let bad = || {
            FieldError::new(
                "cursor",
                "is not a cursor this search gave out; start again without it",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('.');
        if parts.next() != Some("c1") {
            return Err(bad());
        }
        let mut next = || parts.next().ok_or_else(bad);
        let ts_us = next()?.parse::<i64>().map_err(|_| bad())?;
        let call_id = Uuid::parse_str(next()?).map_err(|_| bad())?;
        let from_secs = next()?.parse::<i64>().map_err(|_| bad())?;
        if parts.next().is_some() || ts_us < 0 || from_secs < 0 {
            return Err(bad());
        }
        Ok(Cursor {
            ts_us,
            call_id,
            from_secs,
        })
    }
}

/// The time a UUIDv7 carries (`None` for other versions).
pub fn v7_time(id: &Uuid) -> Option<DateTime<Utc>> {
    if id.get_version_num() != 7 {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("time", "Time"),
        Column::new("call_id", "Call id"),
        Column::new("request_id", "Request id"),
        Column::new("node", "Node"),
        Column::new("api_id", "API id"),
        Column::new("api_name", "API"),
        Column::new("client_id", "Client"),
        Column::new("method", "Method"),
        Column::new("path", "Path"),
        Column::new("status", "Status"),
        Column::new("outcome", "Outcome"),
        Column::new("latency_ms", "Latency").unit("ms"),
        Column::new("upstream_ms", "Upstream time").unit("ms"),
        Column::new("overhead_ms", "Gateway overhead").unit("ms"),
        Column::new("request_bytes", "Request size").unit("bytes"),
        Column::new("response_bytes", "Response size").unit("bytes"),
        Column::new("upstream", "Upstream host"),
        Column::new("ts_us", "Start").unit("µs since epoch"),
        // Last, so readers of the older column order keep their positions.
        Column::new("api_version", "API version"),
    ]
}

fn ms(us: u64) -> Cell {
    Cell::Float(us as f64 / 1_000.0)
}

fn cells(r: SearchRow) -> Vec<Cell> {
    vec![
        Cell::Time(r.ts_us.div_euclid(1_000_000)),
        r.call_id.to_string().into(),
        r.request_id.into(),
        r.node.into(),
        r.api_id.into(),
        r.api_name.into(),
        r.client_id.into(),
        r.method.into(),
        r.path.into(),
        Cell::Int(i64::from(r.status)),
        r.outcome.into(),
        ms(r.latency_us),
        ms(r.upstream_latency_us),
        ms(r.overhead_us),
        r.request_bytes.into(),
        r.response_bytes.into(),
        r.upstream.into(),
        Cell::Int(r.ts_us),
        r.api_version.into(),
    ]
}

/// The window a search reads: a call id's own day either side, else the asked range, whose
/// start a cursor keeps from the first page.
fn search_window(p: &ReportParams, w: &Window, cursor: Option<&Cursor>) -> Result<Window> {
    let mut w = *w;
    if let Some(t) = p.call_id.as_ref().and_then(v7_time) {
        w.from = t - Duration::seconds(ID_SLACK_SECS);
        w.to = t + Duration::seconds(ID_SLACK_SECS);
        return Ok(w);
    }
    if let Some(c) = cursor {
        if let Some(f) = DateTime::from_timestamp(c.from_secs, 0) {
            w.from = f;
        }
    }
    check_raw_span(&w, "call search")?;
    Ok(w)
}

fn page_size(p: &ReportParams) -> Result<u32> {
    match p.limit {
        None => Ok(PAGE_DEFAULT),
        Some(n) if n <= PAGE_MAX => Ok(n),
        Some(_) => {
            Err(FieldError::new("limit", format!("a page holds at most {PAGE_MAX} calls")).into())
        }
    }
}

/// Spans below the page's upper edge tried before the whole window: most searches want the
/// newest calls, and ClickHouse 18.16 sorts every row of the window before `LIMIT`. A span
/// that holds a full page answers exactly (every row outside it is older).
const PROBE_SECS: [i64; 2] = [3_600, 86_400];

/// One page of rows after `cursor`, and the cursor after it when there are more. Two steps:
/// the page's keys, sorting only `ts_us` and `call_id`; then the columns of those calls from
/// the seconds they span.
async fn page(
    store: &Store,
    p: &ReportParams,
    w: &Window,
    cursor: Option<&Cursor>,
    size: u32,
) -> Result<(Vec<SearchRow>, Option<Cursor>)> {
    let before = cursor.map(|c| (c.ts_us, c.call_id));
    let want = size as usize + 1;
    let top = cursor.map_or(w.to.timestamp(), |c| c.ts_us.div_euclid(1_000_000) + 1);
    let mut lows: Vec<Option<i64>> = PROBE_SECS
        .iter()
        .map(|s| top - s)
        .filter(|lo| *lo > w.from.timestamp())
        .map(Some)
        .collect();
    lows.push(None);
    let mut keys: Vec<Key> = Vec::new();
    for lo in lows {
        keys = store_calls::search_keys(store, p, w, before, lo, size + 1).await?;
        if keys.len() == want {
            break;
        }
    }
    let (Some(lo), Some(hi)) = (
        keys.iter().map(|k| k.ts_us).min(),
        keys.iter().map(|k| k.ts_us).max(),
    ) else {
        return Ok((Vec::new(), None));
    };
    let ids: Vec<Uuid> = keys.iter().map(|k| k.call_id).collect();
    let mut rows = store_calls::search_rows(store, lo, hi, &ids, size + 1).await?;
    let next = if rows.len() > size as usize {
        rows.truncate(size as usize);
        rows.last().map(|r| Cursor {
            ts_us: r.ts_us,
            call_id: r.call_id,
            from_secs: w.from.timestamp(),
        })
    } else {
        None
    };
    Ok((rows, next))
}

fn report(ctx: &Ctx<'_>, w: Window, table: Table, next: Option<Cursor>) -> Report {
    let mut summary = Map::new();
    summary.insert("rows".into(), Value::from(table.rows.len()));
    summary.insert("raw_max_days".into(), Value::from(RAW_MAX_SECS / 86_400));
    let _ = ctx;
    Report {
        kind: ReportKind::Calls,
        title: "Calls".into(),
        window: w,
        source: Source::Raw,
        summary,
        table,
        chart: None,
        next_cursor: next.map(|c| c.encode()),
    }
}

/// One page of the search.
pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let p = ctx.params;
    crate::queries::top::refuse_by(p, "calls")?;
    let cursor = p.cursor.as_deref().map(Cursor::decode).transpose()?;
    let size = page_size(p)?;
    let w = search_window(p, &ctx.window, cursor.as_ref())?;
    let (rows, next) = page(ctx.store, p, &w, cursor.as_ref(), size).await?;
    let mut table = Table::new(columns(), w.tz);
    for r in rows {
        table.push(cells(r));
    }
    Ok(report(ctx, w, table, next))
}

/// Every page from the cursor (or the newest call) on, up to [`EXPORT_MAX_ROWS`] rows.
pub async fn export(
    store: &Store,
    params: &ReportParams,
    now: DateTime<Utc>,
    site_tz: Tz,
) -> Result<Report> {
    let window = params.resolve(now, site_tz)?;
    let ctx = Ctx {
        store,
        params,
        window,
    };
    crate::queries::top::refuse_by(params, "calls")?;
    let mut cursor = params.cursor.as_deref().map(Cursor::decode).transpose()?;
    let w = search_window(params, &ctx.window, cursor.as_ref())?;
    let mut table = Table::new(columns(), w.tz);
    let mut truncated = false;
    loop {
        let room = EXPORT_MAX_ROWS - table.rows.len();
        let size = PAGE_MAX.min(u32::try_from(room).unwrap_or(PAGE_MAX));
        let (rows, next) = page(store, params, &w, cursor.as_ref(), size).await?;
        for r in rows {
            table.push(cells(r));
        }
        match next {
            Some(c) if table.rows.len() < EXPORT_MAX_ROWS => cursor = Some(c),
            Some(_) => {
                truncated = true;
                break;
            }
            None => break,
        }
    }
    let mut r = report(&ctx, w, table, None);
    r.summary.insert("truncated".into(), Value::from(truncated));
    r.summary
        .insert("export_max_rows".into(), Value::from(EXPORT_MAX_ROWS));
    Ok(r)
}

/// Stored headers (`[["name","value"],…]`) as an object; a repeated name keeps every value,
/// as an array. Empty when none were captured.
pub fn headers_object(stored: &str) -> Value {
    let pairs: Vec<(String, String)> = serde_json::from_str(stored).unwrap_or_default();
    let mut m = Map::new();
    for (k, v) in pairs {
        match m.get_mut(&k) {
            None => {
                m.insert(k, Value::String(v));
            }
            Some(Value::Array(a)) => a.push(Value::String(v)),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, Value::String(v)]);
            }
        }
    }
    Value::Object(m)
}

/// A body pretty-printed when it is a JSON object or array, keys in the order sent; as
/// stored otherwise (text, or JSON cut at the capture limit).
pub fn pretty_body(body: &str) -> String {
    let t = body.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(body);
        let mut out = Vec::with_capacity(body.len() * 2);
        let mut ser = serde_json::Serializer::pretty(&mut out);
        if serde_transcode::transcode(&mut de, &mut ser).is_ok() && de.end().is_ok() {
            if let Ok(p) = String::from_utf8(out) {
                return p;
            }
        }
    }
    body.to_string()
}

/// One call with every column, headers and bodies masked as the gateway stored them.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    pub call_id: String,
    pub request_id: String,
    /// When, in `tz`.
    pub time: String,
    pub tz: String,
    pub ts_us: i64,
    pub node: String,
    pub api_id: String,
    pub api_name: String,
    /// The version of the API that answered (its `version` label when the call was made);
    /// empty for an API without one or calls of older gateways.
    pub api_version: String,
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
    /// Header name to value, or to the values of a repeated header.
    #[schema(schema_with = headers_schema)]
    pub request_headers: Value,
    #[schema(schema_with = headers_schema)]
    pub response_headers: Value,
    /// JSON bodies pretty-printed.
    pub request_body: String,
    pub response_body: String,
    pub error: String,
    pub batch_id: String,
    /// The fields the gateway cut at their caps.
    pub truncated: Vec<String>,
    /// `HTTP/1.1`, `HTTP/2`; empty for calls of older gateways.
    pub http_version: String,
    /// `TLSv1.2`, `TLSv1.3`; empty over plain HTTP.
    pub tls_version: String,
    pub tls_cipher: String,
    /// `sha256:<hex>` of the client certificate that matched (mTLS).
    pub client_cert: String,
    /// `api_key`, `oauth2`, `mtls+api_key`...; empty on public APIs.
    pub auth_method: String,
    /// The `jti` of the OAuth 2.0 token used (never the token).
    pub token_jti: String,
    /// The token's scopes, space-separated.
    pub scopes: String,
    /// What the message checks found (`sqli:query.q`).
    pub findings: Vec<String>,
    /// What the request policies did (`idempotency:replayed`).
    pub policies: Vec<String>,
    /// The W3C trace the call belongs to (32 hex digits); empty for calls of older gateways
    /// or with tracing off.
    pub trace_id: String,
    /// The gateway's span for this call (16 hex digits), the upstream's parent.
    pub span_id: String,
    /// The caller's span from its `traceparent`; empty when the gateway started the trace.
    pub parent_span_id: String,
}

fn headers_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(utoipa::openapi::schema::Schema::OneOf(
            OneOfBuilder::new()
                .item(string())
                .item(ArrayBuilder::new().items(string()))
                .build(),
        )))
        .build()
}

/// One call by id: 422 naming `call_id` when it is not a UUID, 404 when no call has it.
pub async fn detail(store: &Store, call_id: &str, tz: Tz) -> Result<CallDetail> {
    let id = Uuid::parse_str(call_id.trim())
        .map_err(|_| FieldError::new("call_id", format!("{call_id:?} is not a UUID")))?;
    // A UUIDv7 says when the call was: read its day, not the whole table.
    let within =
        v7_time(&id).map(|t| (t.timestamp() - ID_SLACK_SECS, t.timestamp() + ID_SLACK_SECS));
    let row = store_calls::detail(store, &id, within).await?;
    let r = row.ok_or_else(|| ReportError::NotFound(format!("no call {id}")))?;
    let time = DateTime::from_timestamp_micros(r.ts_us)
        .map(|t| {
            t.with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        })
        .unwrap_or_default();
    Ok(CallDetail {
        call_id: r.call_id.to_string(),
        request_id: r.request_id,
        time,
        tz: tz.name().to_string(),
        ts_us: r.ts_us,
        node: r.node,
        api_id: r.api_id,
        api_name: r.api_name,
        api_version: r.api_version,
        module: r.module,
        route: r.route,
        method: r.method,
        path: r.path,
        query: r.query,
        client_id: r.client_id,
        app_id: r.app_id,
        api_key_id: r.api_key_id,
        client_ip: r.client_ip,
        user_agent: r.user_agent,
        upstream: r.upstream,
        status: r.status,
        outcome: r.outcome,
        latency_us: r.latency_us,
        upstream_latency_us: r.upstream_latency_us,
        overhead_us: r.overhead_us,
        request_bytes: r.request_bytes,
        response_bytes: r.response_bytes,
        request_headers: headers_object(&r.request_headers),
        response_headers: headers_object(&r.response_headers),
        request_body: pretty_body(&r.request_body),
        response_body: pretty_body(&r.response_body),
        error: r.error,
        batch_id: r.batch_id.to_string(),
        truncated: r.truncated,
        http_version: r.http_version,
        tls_version: r.tls_version,
        tls_cipher: r.tls_cipher,
        client_cert: r.client_cert,
        auth_method: r.auth_method,
        token_jti: r.token_jti,
        scopes: r.scopes,
        findings: r.findings,
        policies: r.policies,
        trace_id: r.trace_id,
        span_id: r.span_id,
        parent_span_id: r.parent_span_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_names_the_field() {
        let c = Cursor {
            ts_us: 1_764_000_000_123_456,
            call_id: Uuid::now_v7(),
            from_secs: 1_763_900_000,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let other = URL_SAFE_NO_PAD.encode("c1.1.not-a-uuid.0");
        for junk in ["x", "!!!", "YWJj", other.as_str(), "' OR 1=1 --"] {
            assert_eq!(Cursor::decode(junk).unwrap_err().field, "cursor", "{junk}");
        }
    }

    #[test]
    fn headers_become_objects_and_json_bodies_pretty() {
        let h = headers_object(r#"[["accept","*/*"],["x-a","1"],["x-a","2"],["x-a","3"]]"#);
        assert_eq!(
            h,
            serde_json::json!({"accept": "*/*", "x-a": ["1", "2", "3"]})
        );
        assert_eq!(headers_object(""), serde_json::json!({}));
        assert_eq!(pretty_body(r#"{"a":1}"#), "{\n  \"a\": 1\n}");
        assert_eq!(
            pretty_body(r#"{"b":1,"a":2}"#),
            "{\n  \"b\": 1,\n  \"a\": 2\n}"
        );
        assert_eq!(pretty_body(r#"{"a":1"#), r#"{"a":1"#);
        assert_eq!(pretty_body(r#"{"a":1} x"#), r#"{"a":1} x"#);
        assert_eq!(pretty_body("plain"), "plain");
    }

    #[test]
    fn v7_ids_carry_their_time() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_764_000_000, 5_000_000);
        let id = Uuid::new_v7(ts);
        assert_eq!(v7_time(&id).unwrap().timestamp_millis(), 1_764_000_000_005);
        assert_eq!(v7_time(&Uuid::new_v4()), None);
    }
}
