//! Errors and failed connections: every call that was not a success, by API, by outcome code
//! (timeouts, upstream unreachable, each refusal reason), by upstream host, and the paths that
//! failed most.
//!
//! One table in long form, `dimension` saying which breakdown a row belongs to:
//!
//! | dimension | key | calls | errors |
//! | --- | --- | --- | --- |
//! | `api` | API id | all its calls | its calls that were not a success |
//! | `outcome` | outcome code (not `ok`) | calls with that code | the same |
//! | `upstream` | upstream host (raw) | calls sent there | those not a success |
//! | `path` | API id and path (raw) | failed calls | the same |
//!
//! Upstream hosts and paths are only in the raw table: those parts are read for ranges up to
//! 7 days and left out beyond, with `omitted` in the summary saying why. Paths are the top
//! `limit` (default 20, at most 1000).

use gatewatch_model::report::ReportKind;
use serde_json::{json, Map, Value};

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::class::Class;
use crate::queries::filter::{Dim, Source};
use crate::queries::grouped::{counts_by, By, Group, Key, Only};
use crate::queries::source::{choose, pct, raw_allowed, Choice, Counts, RAW_MAX_SECS};
use crate::table::{Cell, Column, Table};

/// Error paths shown when `limit` is not given, and the most shown.
pub const DEFAULT_PATHS: u32 = 20;
pub const MAX_PATHS: u32 = 1_000;

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "errors", true)?;
    let choice = choose(ctx.params, &ctx.window, &[Dim::Api, Dim::Outcome])?;
    let w = choice.window;
    let mut per_api = counts_by(
        ctx,
        &choice,
        By {
            k1: Key::Api,
            k2: Key::None,
            only: None,
            limit: None,
        },
    )
    .await?;
    per_api.retain(|g| g.counts.errors() > 0);
    per_api.sort_by(|a, b| {
        b.counts
            .errors()
            .cmp(&a.counts.errors())
            .then(a.k1.cmp(&b.k1))
    });
    let per_outcome = counts_by(
        ctx,
        &choice,
        By {
            k1: Key::Outcome,
            k2: Key::None,
            only: Some(Only::NotOk),
            limit: None,
        },
    )
    .await?;
    let mut total = Counts::default();
    let all = counts_by(
        ctx,
        &choice,
        By {
            k1: Key::None,
            k2: Key::None,
            only: None,
            limit: None,
        },
    )
    .await?;
    for g in &all {
        total.add(&g.counts);
    }

    let mut omitted = Vec::new();
    let (mut per_upstream, mut per_path) = (Vec::new(), Vec::new());
    if raw_allowed(&w) {
        let raw = Choice {
            source: Source::Raw,
            window: w,
        };
        per_upstream = counts_by(
            ctx,
            &raw,
            By {
                k1: Key::Upstream,
                k2: Key::None,
                only: Some(Only::HasUpstream),
                limit: None,
            },
        )
        .await?;
        per_upstream.retain(|g| g.counts.errors() > 0);
        per_upstream.sort_by(|a, b| {
            b.counts
                .errors()
                .cmp(&a.counts.errors())
                .then(a.k1.cmp(&b.k1))
        });
        let limit = ctx.params.limit.unwrap_or(DEFAULT_PATHS).min(MAX_PATHS);
        per_path = counts_by(
            ctx,
            &raw,
            By {
                k1: Key::Api,
                k2: Key::Path,
                only: Some(Only::NotOk),
                limit: Some(limit),
            },
        )
        .await?;
    } else {
        omitted.push(json!({
            "parts": ["upstream", "path"],
            "reason": format!("upstream hosts and paths are read from raw calls for ranges up to {} days", RAW_MAX_SECS / 86_400),
        }));
    }

    let mut columns = vec![
        Column::new("dimension", "Breakdown"),
        Column::new("key", "Key"),
        Column::new("api_name", "API"),
        Column::new("path", "Path"),
        Column::new("calls", "Calls"),
        Column::new("errors", "Errors"),
    ];
    columns.extend(
        Class::ALL[1..]
            .iter()
            .map(|c| Column::new(c.key(), c.label())),
    );
    columns.push(Column::new("error_pct", "Error rate").unit("%"));
    let mut table = Table::new(columns, w.tz);
    let mut push = |dim: &str, g: &Group, key: &str, path: &str| {
        let mut row: Vec<Cell> = vec![
            dim.into(),
            key.into(),
            g.name.as_str().into(),
            path.into(),
            g.counts.calls.into(),
            g.counts.errors().into(),
        ];
        row.extend(Class::ALL[1..].iter().map(|c| Cell::from(g.counts.get(*c))));
        row.push(pct(g.counts.errors(), g.counts.calls).into());
        table.push(row);
    };
    for g in &per_api {
        push("api", g, &g.k1, "");
    }
    for g in &per_outcome {
        let plain = Group {
            name: String::new(),
            ..g.clone()
        };
        push("outcome", &plain, &g.k1, "");
    }
    for g in &per_upstream {
        let plain = Group {
            name: String::new(),
            ..g.clone()
        };
        push("upstream", &plain, &g.k1, "");
    }
    for g in &per_path {
        push("path", g, &g.k1, &g.k2);
    }

    let mut summary = Map::new();
    summary.insert("calls".into(), total.calls.into());
    summary.insert("errors".into(), total.errors().into());
    summary.insert("error_pct".into(), pct(total.errors(), total.calls).into());
    for c in &Class::ALL[1..] {
        summary.insert(c.key().into(), total.get(*c).into());
    }
    summary.insert("omitted".into(), Value::Array(omitted));
    let chart = Chart {
        kind: ChartKind::HorizontalBar,
        title: "Errors by outcome".into(),
        x_labels: per_outcome.iter().map(|g| g.k1.clone()).collect(),
        y_label: "calls".into(),
        series: vec![Series {
            name: "Errors".into(),
            values: per_outcome.iter().map(|g| g.counts.calls as f64).collect(),
        }],
    };
    Ok(Report {
        kind: ReportKind::Errors,
        title: "Errors and failed connections".into(),
        window: w,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}
