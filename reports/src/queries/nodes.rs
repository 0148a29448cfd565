//! Nodes: CPU, memory, process RSS and disk per node and time bucket, from the node samples
//! (`node_metrics`): averages and maxima over the samples of each bucket.
//!
//! Disk: each sample lists its mounts; the row shows the fullest mount of the bucket (highest
//! used share of any sample), its largest used bytes and its size. Only the `node` filter
//! applies; the others are refused naming the field.

use std::collections::{BTreeMap, HashMap};

use gatewatch_model::report::ReportKind;
use gatewatch_store::reports::nodes::{self as store_nodes, DiskRow, NodeRow as Row};
use serde_json::Map;

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::filter::{Dim, Source};
use crate::queries::source::{bucket_starts, label_of, refuse_filters, round2};
use crate::table::{Cell, Column, Table};

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    refuse_filters(
        ctx.params,
        "nodes",
        &[
            Dim::Api,
            Dim::Module,
            Dim::Client,
            Dim::StatusClass,
            Dim::Outcome,
            Dim::Version,
        ],
    )?;
    crate::queries::source::refuse_search_params(ctx.params, "nodes", false)?;
    let w = ctx.window;
    let rows: Vec<Row> = store_nodes::figures(ctx.store, ctx.params, &w).await?;
    let disks: Vec<DiskRow> = store_nodes::disks(ctx.store, ctx.params, &w).await?;
    // The fullest mount of each bucket and node (first by name on a tie).
    let mut fullest: HashMap<(u32, &str), &DiskRow> = HashMap::new();
    for d in &disks {
        let e = fullest.entry((d.b, d.node.as_str())).or_insert(d);
        if d.ratio_max > e.ratio_max {
            *e = d;
        }
    }

    let mut table = Table::new(
        vec![
            Column::new("bucket", "Time"),
            Column::new("node", "Node"),
            Column::new("samples", "Samples"),
            Column::new("cpu_avg_pct", "CPU average").unit("%"),
            Column::new("cpu_max_pct", "CPU highest").unit("%"),
            Column::new("mem_used_avg_bytes", "Memory used average").unit("bytes"),
            Column::new("mem_used_max_bytes", "Memory used highest").unit("bytes"),
            Column::new("mem_total_bytes", "Memory").unit("bytes"),
            Column::new("rss_avg_bytes", "Process RSS average").unit("bytes"),
            Column::new("rss_max_bytes", "Process RSS highest").unit("bytes"),
            Column::new("disk_mount", "Fullest mount"),
            Column::new("disk_used_max_bytes", "Disk used highest").unit("bytes"),
            Column::new("disk_total_bytes", "Disk size").unit("bytes"),
            Column::new("disk_used_max_pct", "Disk used highest").unit("%"),
        ],
        w.tz,
    );
    let mut cpu: BTreeMap<&str, HashMap<i64, f64>> = BTreeMap::new();
    let mut peak_cpu = 0f64;
    for r in &rows {
        let cpu_avg = round2(r.cpu_avg);
        cpu.entry(r.node.as_str())
            .or_default()
            .insert(i64::from(r.b), cpu_avg);
        peak_cpu = peak_cpu.max(f64::from(r.cpu_max));
        let mut row: Vec<Cell> = vec![
            Cell::Time(i64::from(r.b)),
            r.node.as_str().into(),
            r.samples.into(),
            cpu_avg.into(),
            round2(f64::from(r.cpu_max)).into(),
            (r.mem_avg.round() as i64).into(),
            r.mem_max.into(),
            r.mem_total.into(),
            (r.rss_avg.round() as i64).into(),
            r.rss_max.into(),
        ];
        match fullest.get(&(r.b, r.node.as_str())) {
            Some(d) => row.extend([
                d.m.as_str().into(),
                d.used_max.into(),
                d.total_max.into(),
                round2(d.ratio_max * 100.0).into(),
            ]),
            None => row.extend([Cell::Null, Cell::Null, Cell::Null, Cell::Null]),
        }
        table.push(row);
    }

    let starts = bucket_starts(&w);
    let mut summary = Map::new();
    summary.insert("nodes".into(), cpu.len().into());
    summary.insert(
        "samples".into(),
        rows.iter().map(|r| r.samples).sum::<u64>().into(),
    );
    summary.insert("cpu_max_pct".into(), round2(peak_cpu).into());
    let chart = Chart {
        kind: ChartKind::Line,
        title: "CPU per node (average)".into(),
        x_labels: starts.iter().map(|b| label_of(&w, *b)).collect(),
        y_label: "%".into(),
        series: cpu
            .iter()
            .map(|(node, by_b)| Series {
                name: (*node).to_string(),
                values: starts
                    .iter()
                    .map(|b| by_b.get(b).copied().unwrap_or(0.0))
                    .collect(),
            })
            .collect(),
    };
    Ok(Report {
        kind: ReportKind::Nodes,
        title: "Nodes".into(),
        window: w,
        source: Source::NodeMetrics,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}
