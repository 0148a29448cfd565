//! Latency: average, p50, p95, p99 and slowest per API and per time bucket; gateway overhead
//! (total minus upstream time, averaged) against upstream time.
//!
//! One table in long form: `group` is `api` for the rows per API (bucket empty) and `time` for
//! the rows per bucket over all APIs asked for (API empty), so the CSV carries both. Every
//! call the filters select counts, refused ones included (they have no upstream time, so
//! their whole latency is overhead): filter by outcome to leave them out. Averages are exact;
//! percentiles are t-digest estimates (within a few percent).
//!
//! `group=version`: the first rows are per API version as each call recorded it (`group`
//! `version`, the label in the last column `version`), read from the raw calls (7 days at
//! most).

use gatewatch_model::report::{GroupBy, ReportKind};
use gatewatch_store::reports::aggregate::{self, LatencyBy, LatencyRow as Row};
use serde_json::Map;

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::filter::Dim;
use crate::queries::source::{bucket_starts, choose, label_of, mean_ms, q_ms};
use crate::table::{Cell, Column, Table};

/// One line of figures.
struct Figures {
    calls: u64,
    avg: Option<f64>,
    q: [Option<f64>; 3],
    max: Option<f64>,
    upstream: Option<f64>,
    overhead: Option<f64>,
}

fn figures(r: &Row, has_upstream: bool, has_max: bool) -> Figures {
    let q = |i: usize| r.q.get(i).copied().filter(|_| r.calls > 0).map(q_ms);
    Figures {
        calls: r.calls,
        avg: mean_ms(r.lat_sum, r.calls),
        q: [q(0), q(1), q(2)],
        max: (has_max && r.calls > 0).then(|| r.lat_max as f64 / 1_000.0),
        upstream: has_upstream.then(|| mean_ms(r.up_sum, r.calls)).flatten(),
        overhead: has_upstream
            .then(|| mean_ms(r.lat_sum.saturating_sub(r.up_sum), r.calls))
            .flatten(),
    }
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "latency", false)?;
    // `group=version`: the first rows are per recorded API version instead of per API.
    let by_version = ctx.params.group == Some(GroupBy::Version);
    let (dim, by) = if by_version {
        (Dim::Version, LatencyBy::Version)
    } else {
        (Dim::Api, LatencyBy::Api)
    };
    let choice = choose(ctx.params, &ctx.window, &[dim])?;
    let w = choice.window;
    let scope = choice.scope(ctx.params);
    let mut per_api = aggregate::latency(ctx.store, &scope, by).await?;
    per_api.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.key.cmp(&b.key)));
    let per_bucket = aggregate::latency(ctx.store, &scope, LatencyBy::Bucket).await?;
    let all = aggregate::latency(ctx.store, &scope, LatencyBy::All).await?;

    let mut columns = vec![
        Column::new("group", "Group"),
        Column::new("bucket", "Time"),
        Column::new("api_id", "API id"),
        Column::new("api_name", "API"),
        Column::new("calls", "Calls"),
        Column::new("avg_ms", "Average").unit("ms"),
        Column::new("p50_ms", "p50").unit("ms"),
        Column::new("p95_ms", "p95").unit("ms"),
        Column::new("p99_ms", "p99").unit("ms"),
        Column::new("max_ms", "Slowest").unit("ms"),
        Column::new("upstream_avg_ms", "Upstream average").unit("ms"),
        Column::new("overhead_avg_ms", "Gateway overhead average").unit("ms"),
    ];
    if by_version {
        // Rows of `group` `version` carry it here; `time` rows leave it empty.
        columns.push(Column::new("version", "Version"));
    }
    let mut table = Table::new(columns, w.tz);
    let opt = |v: Option<f64>| v.map_or(Cell::Null, Cell::from);
    let line = |group: &str, bucket: Cell, id: &str, name: &str, f: &Figures| -> Vec<Cell> {
        let mut cells = vec![
            group.into(),
            bucket,
            id.into(),
            name.into(),
            f.calls.into(),
            opt(f.avg),
            opt(f.q[0]),
            opt(f.q[1]),
            opt(f.q[2]),
            opt(f.max),
            opt(f.upstream),
            opt(f.overhead),
        ];
        if by_version {
            cells.push(Cell::Null);
        }
        cells
    };
    // Upstream time and the slowest call are kept where the API's name is.
    let (hu, hm) = (
        choice.source.keeps_upstream(),
        choice.source.keeps_upstream(),
    );
    let mut names = std::collections::HashMap::new();
    if !choice.source.keeps_api_name() {
        names = crate::queries::grouped::api_names(ctx.store, &w).await?;
    }
    for r in &per_api {
        if by_version {
            let mut row = line("version", Cell::Null, "", "", &figures(r, hu, hm));
            if let Some(last) = row.last_mut() {
                *last = r.key.as_str().into();
            }
            table.push(row);
            continue;
        }
        let name = names.get(&r.key).cloned().unwrap_or_else(|| r.name.clone());
        table.push(line("api", Cell::Null, &r.key, &name, &figures(r, hu, hm)));
    }
    let starts = bucket_starts(&w);
    let mut bands: Vec<Series> = ["Average", "p50", "p95", "p99"]
        .iter()
        .map(|n| Series {
            name: (*n).into(),
            values: Vec::with_capacity(starts.len()),
        })
        .collect();
    let by_b: std::collections::HashMap<i64, &Row> =
        per_bucket.iter().map(|r| (i64::from(r.b), r)).collect();
    for b in &starts {
        match by_b.get(b) {
            Some(r) => {
                let f = figures(r, hu, hm);
                for (i, v) in [f.avg, f.q[0], f.q[1], f.q[2]].into_iter().enumerate() {
                    bands[i].values.push(v.unwrap_or(f64::NAN));
                }
                table.push(line("time", Cell::Time(*b), "", "", &f));
            }
            None => {
                // No calls, no latency: a gap in the chart, not a fast zero.
                for s in &mut bands {
                    s.values.push(f64::NAN);
                }
                let mut row = line("time", Cell::Time(*b), "", "", &figures_none());
                row[4] = 0u64.into();
                table.push(row);
            }
        }
    }

    let mut summary = Map::new();
    if by_version {
        summary.insert("group".into(), GroupBy::Version.as_str().into());
    }
    if let Some(r) = all.first() {
        let f = figures(r, hu, hm);
        summary.insert("calls".into(), f.calls.into());
        for (k, v) in [
            ("avg_ms", f.avg),
            ("p50_ms", f.q[0]),
            ("p95_ms", f.q[1]),
            ("p99_ms", f.q[2]),
            ("max_ms", f.max),
            ("upstream_avg_ms", f.upstream),
            ("overhead_avg_ms", f.overhead),
        ] {
            summary.insert(k.into(), v.into());
        }
    } else {
        summary.insert("calls".into(), 0.into());
    }
    let chart = Chart {
        kind: ChartKind::Bands,
        title: "Latency percentiles over time".into(),
        x_labels: starts.iter().map(|b| label_of(&w, *b)).collect(),
        y_label: "ms".into(),
        series: bands,
    };
    Ok(Report {
        kind: ReportKind::Latency,
        title: "Latency".into(),
        window: w,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}

fn figures_none() -> Figures {
    Figures {
        calls: 0,
        avg: None,
        q: [None; 3],
        max: None,
        upstream: None,
        overhead: None,
    }
}
