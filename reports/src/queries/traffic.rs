//! Traffic over time: calls per bucket by outcome class, every bucket of the window present
//! (zero when nothing came).

use std::collections::HashMap;

use gatewatch_model::report::{Bucket, ReportKind};
use gatewatch_store::reports::aggregate;
use serde_json::Map;

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::class::Class;
use crate::queries::source::{bucket_starts, choose, label_of, Counts};
use crate::table::{Cell, Column, Table};

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "traffic", false)?;
    let choice = choose(ctx.params, &ctx.window, &[])?;
    let w = choice.window;
    let rows = aggregate::bucket_counts(
        ctx.store,
        &choice.scope(ctx.params),
        &Class::outcome_lists(),
    )
    .await?;
    let by_bucket: HashMap<i64, Counts> = rows
        .into_iter()
        .map(|r| {
            (
                i64::from(r.b),
                Counts {
                    calls: r.c_calls,
                    success: r.c_success,
                    client_error: r.c_client_error,
                    server_error: r.c_server_error,
                    refused: r.c_refused,
                },
            )
        })
        .collect();

    let mut columns = vec![Column::new("bucket", "Time"), Column::new("calls", "Calls")];
    columns.extend(Class::ALL.map(|c| Column::new(c.key(), c.label())));
    let mut table = Table::new(columns, w.tz);
    let starts = bucket_starts(&w);
    let mut total = Counts::default();
    let (mut peak_at, mut peak) = (None, 0u64);
    let mut series: Vec<Series> = Class::ALL
        .iter()
        .map(|c| Series {
            name: c.label().into(),
            values: Vec::with_capacity(starts.len()),
        })
        .collect();
    for b in &starts {
        let c = by_bucket.get(b).copied().unwrap_or_default();
        total.add(&c);
        if c.calls > peak {
            (peak_at, peak) = (Some(*b), c.calls);
        }
        let mut row = vec![Cell::Time(*b), c.calls.into()];
        for (i, k) in Class::ALL.iter().enumerate() {
            row.push(c.get(*k).into());
            series[i].values.push(c.get(*k) as f64);
        }
        table.push(row);
    }

    let mut summary = Map::new();
    summary.insert("calls".into(), total.calls.into());
    for c in Class::ALL {
        summary.insert(c.key().into(), total.get(c).into());
    }
    summary.insert("buckets".into(), starts.len().into());
    summary.insert("peak_calls".into(), peak.into());
    summary.insert(
        "peak_at".into(),
        peak_at
            .and_then(|b| chrono::DateTime::from_timestamp(b, 0))
            .map(|t| t.with_timezone(&w.tz).to_rfc3339())
            .into(),
    );
    let chart = Chart {
        // Minute bars are too thin to read; lines show the same shape.
        kind: if w.bucket == Bucket::Minute {
            ChartKind::Line
        } else {
            ChartKind::StackedBar
        },
        title: "Calls over time by outcome".into(),
        x_labels: starts.iter().map(|b| label_of(&w, *b)).collect(),
        y_label: "calls".into(),
        series,
    };
    Ok(Report {
        kind: ReportKind::Traffic,
        title: "Traffic over time".into(),
        window: w,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}
