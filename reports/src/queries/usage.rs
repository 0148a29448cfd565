//! API usage: calls per API by outcome class with share of total; per module in the summary.
//!
//! The module of an API is the one configured now (`ApiSpec.module` in the configuration
//! log), so modules come from the rollups too; a `module` filter selects calls by the module
//! recorded on each call, which only the raw table has (see [`super::source`]).

use std::collections::BTreeMap;

use gatewatch_model::report::{GroupBy, ReportKind};
use gatewatch_model::{ApiSpec, EntityKind};
use serde_json::{json, Map, Value};

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::class::Class;
use crate::queries::filter::Dim;
use crate::queries::grouped::{counts_by, By, Key};
use crate::queries::source::{choose, config_of, mean_ms, pct, Counts};
use crate::table::{Cell, Column, Table};

/// What calls that matched no API (404 `no_route`, refused before routing) are listed as.
pub const NO_API: &str = "(no API matched)";

/// What calls of an API without a version label are listed as under `group=version`.
pub const NO_VERSION: &str = "(no version)";

pub async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "usage", false)?;
    if ctx.params.group == Some(GroupBy::Version) {
        return by_version(ctx).await;
    }
    let choice = choose(ctx.params, &ctx.window, &[Dim::Api])?;
    let groups = counts_by(
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
    let apis: std::collections::HashMap<String, ApiSpec> =
        config_of(ctx.store, EntityKind::Api).await?;
    let mut total = Counts::default();
    for g in &groups {
        total.add(&g.counts);
    }

    let mut columns = vec![
        Column::new("api_id", "API id"),
        Column::new("api_name", "API"),
        Column::new("module", "Module"),
        Column::new("calls", "Calls"),
    ];
    columns.extend(Class::ALL.map(|c| Column::new(c.key(), c.label())));
    columns.push(Column::new("share_pct", "Share").unit("%"));
    columns.push(Column::new("avg_ms", "Average latency").unit("ms"));
    let mut table = Table::new(columns, choice.window.tz);
    let mut modules: BTreeMap<String, Counts> = BTreeMap::new();
    for g in &groups {
        let module = apis
            .get(&g.k1)
            .map(|a| a.module.clone())
            .unwrap_or_default();
        modules.entry(module.clone()).or_default().add(&g.counts);
        let mut row: Vec<Cell> = vec![
            g.k1.as_str().into(),
            if g.k1.is_empty() {
                NO_API
            } else {
                g.name.as_str()
            }
            .into(),
            module.into(),
            g.counts.calls.into(),
        ];
        row.extend(Class::ALL.map(|c| Cell::from(g.counts.get(c))));
        row.push(pct(g.counts.calls, total.calls).into());
        row.push(mean_ms(g.latency_sum_us, g.counts.calls).map_or(Cell::Null, Cell::from));
        table.push(row);
    }

    let mut summary = Map::new();
    summary.insert("calls".into(), total.calls.into());
    for c in Class::ALL {
        summary.insert(c.key().into(), total.get(c).into());
    }
    summary.insert("apis".into(), groups.len().into());
    let modules: Vec<Value> = modules
        .iter()
        .map(|(m, c)| {
            let mut o =
                json!({"module": m, "calls": c.calls, "share_pct": pct(c.calls, total.calls)});
            for k in Class::ALL {
                o[k.key()] = c.get(k).into();
            }
            o
        })
        .collect();
    summary.insert("modules".into(), Value::Array(modules));

    let chart = Chart {
        kind: ChartKind::HorizontalBar,
        title: "Calls per API".into(),
        x_labels: groups
            .iter()
            .map(|g| {
                if g.k1.is_empty() {
                    NO_API.to_string()
                } else if g.name.is_empty() {
                    g.k1.clone()
                } else {
                    g.name.clone()
                }
            })
            .collect(),
        y_label: "calls".into(),
        series: vec![Series {
            name: "Calls".into(),
            values: groups.iter().map(|g| g.counts.calls as f64).collect(),
        }],
    };
    Ok(Report {
        kind: ReportKind::Usage,
        title: "API usage".into(),
        window: choice.window,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}

/// `group=version`: calls per API version as each call recorded it (`api_version`), over the
/// APIs the filters select — with `api=` the versions of one family side by side. Raw calls
/// only (see [`super::source::choose`]), so at most 7 days.
async fn by_version(ctx: &Ctx<'_>) -> Result<Report> {
    let choice = choose(ctx.params, &ctx.window, &[Dim::Version])?;
    let groups = counts_by(
        ctx,
        &choice,
        By {
            k1: Key::Version,
            k2: Key::None,
            only: None,
            limit: None,
        },
    )
    .await?;
    let mut total = Counts::default();
    for g in &groups {
        total.add(&g.counts);
    }
    let mut columns = vec![
        Column::new("version", "Version"),
        Column::new("calls", "Calls"),
    ];
    columns.extend(Class::ALL.map(|c| Column::new(c.key(), c.label())));
    columns.push(Column::new("share_pct", "Share").unit("%"));
    columns.push(Column::new("avg_ms", "Average latency").unit("ms"));
    let mut table = Table::new(columns, choice.window.tz);
    let label = |v: &str| {
        if v.is_empty() {
            NO_VERSION.to_string()
        } else {
            v.to_string()
        }
    };
    for g in &groups {
        let mut row: Vec<Cell> = vec![g.k1.as_str().into(), g.counts.calls.into()];
        row.extend(Class::ALL.map(|c| Cell::from(g.counts.get(c))));
        row.push(pct(g.counts.calls, total.calls).into());
        row.push(mean_ms(g.latency_sum_us, g.counts.calls).map_or(Cell::Null, Cell::from));
        table.push(row);
    }
    let mut summary = Map::new();
    summary.insert("group".into(), GroupBy::Version.as_str().into());
    summary.insert("calls".into(), total.calls.into());
    for c in Class::ALL {
        summary.insert(c.key().into(), total.get(c).into());
    }
    summary.insert("versions".into(), groups.len().into());
    let chart = Chart {
        kind: ChartKind::HorizontalBar,
        title: "Calls per API version".into(),
        x_labels: groups.iter().map(|g| label(&g.k1)).collect(),
        y_label: "calls".into(),
        series: vec![Series {
            name: "Calls".into(),
            values: groups.iter().map(|g| g.counts.calls as f64).collect(),
        }],
    };
    Ok(Report {
        kind: ReportKind::Usage,
        title: "API usage per version".into(),
        window: choice.window,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}
