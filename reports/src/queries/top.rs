//! Top-N: the slowest calls, the biggest payloads (request + response bytes) and the busiest
//! clients of a window (`by=slowest|largest|clients`, `limit`, default 20).
//!
//! Exact, so read from the raw table with `ORDER BY … LIMIT` over the window's daily
//! partitions only. A rollup cannot answer it: it keeps no single calls, and its client rows
//! are per hour, which would serve "busiest clients" but not the call lists beside it. The
//! window is therefore held to the raw limit of call search ([`RAW_MAX_SECS`], 7 days):
//! ClickHouse 18.16 sorts every row of the window before `LIMIT` (no read-in-order), so a
//! longer window makes a top-N a full scan of weeks of calls.
//!
//! Ties are broken by start time, then call id (client id for clients), so the same data
//! always gives the same list.

use gatewatch_model::report::{ReportKind, ReportParams, TopBy, Window};
use gatewatch_model::FieldError;
use gatewatch_store::reports::calls::{
    self as store_calls, TopCallRow as CallRow, TopClientRow as ClientRow, TopKey,
};
use serde_json::{Map, Value};

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::calls::{check_raw_span, RAW_MAX_SECS};
use crate::queries::filter::Source;
use crate::table::{Cell, Column, Table};

/// Rows of a list when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

/// Refuses `by` on a report other than top-N, and `group` on a report other than usage and
/// latency, naming it, rather than ignoring it.
pub(crate) fn refuse_by(p: &ReportParams, report: &str) -> Result<()> {
    if p.group.is_some() && !matches!(report, "usage" | "latency") {
        return Err(FieldError::new(
            "group",
            format!("the {report} report has no group parameter (usage and latency have)"),
        )
        .into());
    }
    if p.top_by != TopBy::default() {
        return Err(FieldError::new(
            "by",
            format!("the {report} report has no by parameter (it is for the top report)"),
        )
        .into());
    }
    Ok(())
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let p = ctx.params;
    let w = ctx.window;
    if p.group.is_some() {
        return Err(FieldError::new(
            "group",
            "the top report has no group parameter (usage and latency have)",
        )
        .into());
    }
    if p.cursor.is_some() {
        return Err(FieldError::new("cursor", "the top report has one page (use limit)").into());
    }
    check_raw_span(&w, "the top-N report")?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    // Status, path substring and request id narrow a top list as they narrow a search (the
    // store applies the search filters).
    let (table, chart) = match p.top_by {
        TopBy::Slowest | TopBy::Largest => calls(ctx, &w, limit).await?,
        TopBy::Clients => clients(ctx, &w, limit).await?,
    };
    let mut summary = Map::new();
    summary.insert("by".into(), Value::from(p.top_by.as_str()));
    summary.insert("limit".into(), Value::from(limit));
    summary.insert("rows".into(), Value::from(table.rows.len()));
    summary.insert("raw_max_days".into(), Value::from(RAW_MAX_SECS / 86_400));
    let title = match p.top_by {
        TopBy::Slowest => "Slowest calls",
        TopBy::Largest => "Biggest payloads",
        TopBy::Clients => "Busiest clients",
    };
    Ok(Report {
        kind: ReportKind::Top,
        title: title.into(),
        window: w,
        source: Source::Raw,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}

async fn calls(ctx: &Ctx<'_>, w: &Window, limit: u32) -> Result<(Table, Chart)> {
    let largest = ctx.params.top_by == TopBy::Largest;
    let key = if largest {
        TopKey::Bytes
    } else {
        TopKey::Latency
    };
    let rows: Vec<CallRow> = store_calls::top_calls(ctx.store, ctx.params, w, key, limit).await?;
    let mut t = Table::new(
        vec![
            Column::new("rank", "Rank"),
            Column::new("time", "Time"),
            Column::new("call_id", "Call id"),
            Column::new("api_id", "API id"),
            Column::new("api_name", "API"),
            Column::new("client_id", "Client"),
            Column::new("method", "Method"),
            Column::new("path", "Path"),
            Column::new("status", "Status"),
            Column::new("outcome", "Outcome"),
            Column::new("latency_ms", "Latency").unit("ms"),
            Column::new("upstream_ms", "Upstream time").unit("ms"),
            Column::new("request_bytes", "Request size").unit("bytes"),
            Column::new("response_bytes", "Response size").unit("bytes"),
            Column::new("total_bytes", "Total size").unit("bytes"),
        ],
        ctx.window.tz,
    );
    let (mut labels, mut values) = (Vec::new(), Vec::new());
    for (i, r) in rows.into_iter().enumerate() {
        let total = r.request_bytes.saturating_add(r.response_bytes);
        labels.push(format!("{} {} {}", r.api_name, r.method, r.path));
        values.push(if largest {
            total as f64
        } else {
            ms(r.latency_us)
        });
        t.push(vec![
            Cell::Int(i as i64 + 1),
            Cell::Time(r.ts_us.div_euclid(1_000_000)),
            r.call_id.to_string().into(),
            r.api_id.into(),
            r.api_name.into(),
            r.client_id.into(),
            r.method.into(),
            r.path.into(),
            Cell::Int(i64::from(r.status)),
            r.outcome.into(),
            ms(r.latency_us).into(),
            ms(r.upstream_latency_us).into(),
            r.request_bytes.into(),
            r.response_bytes.into(),
            total.into(),
        ]);
    }
    let (title, y) = if largest {
        ("Biggest payloads", "bytes")
    } else {
        ("Slowest calls", "ms")
    };
    let chart = Chart {
        kind: ChartKind::HorizontalBar,
        title: title.into(),
        x_labels: labels,
        y_label: y.into(),
        series: vec![Series {
            name: y.into(),
            values,
        }],
    };
    Ok((t, chart))
}

async fn clients(ctx: &Ctx<'_>, w: &Window, limit: u32) -> Result<(Table, Chart)> {
    let rows: Vec<ClientRow> = store_calls::top_clients(ctx.store, ctx.params, w, limit).await?;
    let mut t = Table::new(
        vec![
            Column::new("rank", "Rank"),
            Column::new("client_id", "Client"),
            Column::new("calls", "Calls"),
            Column::new("refused", "Refused"),
            Column::new("server_errors", "5xx"),
            Column::new("bytes", "Request + response size").unit("bytes"),
            Column::new("avg_latency_ms", "Average latency").unit("ms"),
            Column::new("max_latency_ms", "Longest latency").unit("ms"),
        ],
        ctx.window.tz,
    );
    let (mut labels, mut values) = (Vec::new(), Vec::new());
    for (i, r) in rows.into_iter().enumerate() {
        labels.push(r.client_id.clone());
        values.push(r.calls as f64);
        let avg = if r.calls == 0 {
            Cell::Null
        } else {
            (r.latency_sum as f64 / r.calls as f64 / 1_000.0).into()
        };
        t.push(vec![
            Cell::Int(i as i64 + 1),
            r.client_id.into(),
            r.calls.into(),
            r.refused.into(),
            r.server_errors.into(),
            r.bytes.into(),
            avg,
            ms(r.latency_max).into(),
        ]);
    }
    let chart = Chart {
        kind: ChartKind::HorizontalBar,
        title: "Busiest clients".into(),
        x_labels: labels,
        y_label: "calls".into(),
        series: vec![Series {
            name: "calls".into(),
            values,
        }],
    };
    Ok((t, chart))
}
