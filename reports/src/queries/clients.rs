//! Client usage (calls per client, with quota consumption) and client × API usage.
//!
//! Quota consumption, computed the way the gateway counts (gateway/src/access/quota.rs):
//! - the limits are the client's `quota` in its current configuration (the configuration
//!   log's latest `ClientSpec`);
//! - each limited window (per minute, hour, day, month) is the calendar window in the client's
//!   zone (its `timezone`, else the site's) that holds the report's last instant (`to` − 1 s:
//!   "now" for ranges that end now), from `QuotaWindow::bounds`;
//! - used = the client's calls in that window over all APIs and nodes, refusals left out
//!   (a refused call never took quota): its whole hours from `client_api_1h`, ragged ends (a
//!   minute window, a day in a zone off the hour) from the raw calls;
//! - the row shows the window with the highest share used; the summary lists every window.
//!
//! With `scope: node` each gateway counts alone, so the calls of all nodes may pass the limit
//! without any refusal; the summary says which scope each client has.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use gatewatch_model::client::QuotaWindow;
use gatewatch_model::report::ReportKind;
use gatewatch_model::{ClientSpec, EntityKind};
use gatewatch_store::reports::aggregate;
use serde_json::{json, Map, Value};

use crate::catalog::{Ctx, Report};
use crate::chart::{Chart, ChartKind, Series};
use crate::error::Result;
use crate::queries::class::Class;
use crate::queries::filter::{Dim, Source};
use crate::queries::grouped::{counts_by, By, Group, Key};
use crate::queries::source::{choose, config_of, mean_ms, pct, Counts};
use crate::table::{Cell, Column, Table};

/// Bars drawn in the client × API chart.
const CHART_BARS: usize = 20;

/// One limited window of one client.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaUse {
    pub window: QuotaWindow,
    pub limit: u64,
    pub used: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl QuotaUse {
    pub fn used_pct(&self) -> f64 {
        pct(self.used, self.limit)
    }
}

pub async fn clients(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "clients", false)?;
    let choice = choose(ctx.params, &ctx.window, &[Dim::Client])?;
    let groups = counts_by(ctx, &choice, by_keys(Key::Client, Key::None)).await?;
    let specs: HashMap<String, ClientSpec> = config_of(ctx.store, EntityKind::Client).await?;
    let at = ctx.window.to - Duration::seconds(1);
    let ids: Vec<&str> = groups.iter().map(|g| g.k1.as_str()).collect();
    let quotas = quota_use(ctx, &specs, &ids, at).await?;
    let total = sum(&groups);

    let mut columns = vec![
        Column::new("client_id", "Client id"),
        Column::new("client_name", "Client"),
        Column::new("calls", "Calls"),
    ];
    columns.extend(Class::ALL.map(|c| Column::new(c.key(), c.label())));
    columns.extend([
        Column::new("share_pct", "Share").unit("%"),
        Column::new("avg_ms", "Average latency").unit("ms"),
        Column::new("quota_window", "Quota window"),
        Column::new("quota_limit", "Quota"),
        Column::new("quota_used", "Quota used"),
        Column::new("quota_used_pct", "Quota used share").unit("%"),
    ]);
    let mut table = Table::new(columns, choice.window.tz);
    let mut quota_list = Vec::new();
    for g in &groups {
        let name = specs.get(&g.k1).map(|s| s.name.clone()).unwrap_or_default();
        let mut row: Vec<Cell> = vec![g.k1.as_str().into(), name.into(), g.counts.calls.into()];
        row.extend(Class::ALL.map(|c| Cell::from(g.counts.get(c))));
        row.push(pct(g.counts.calls, total.calls).into());
        row.push(mean_ms(g.latency_sum_us, g.counts.calls).map_or(Cell::Null, Cell::from));
        let uses = quotas.get(&g.k1).cloned().unwrap_or_default();
        let binding = uses.iter().max_by(|a, b| {
            a.used_pct()
                .total_cmp(&b.used_pct())
                .then(b.window.cmp(&a.window))
        });
        match binding {
            Some(q) => row.extend([
                q.window.field().into(),
                q.limit.into(),
                q.used.into(),
                q.used_pct().into(),
            ]),
            None => row.extend([Cell::Null, Cell::Null, Cell::Null, Cell::Null]),
        }
        table.push(row);
        let scope = specs.get(&g.k1).map(|s| s.quota.scope);
        for q in &uses {
            let tz = choice.window.tz;
            quota_list.push(json!({
                "client_id": g.k1,
                "window": q.window.field(),
                "limit": q.limit,
                "used": q.used,
                "used_pct": q.used_pct(),
                "from": q.from.with_timezone(&tz).to_rfc3339(),
                "to": q.to.with_timezone(&tz).to_rfc3339(),
                "scope": scope,
            }));
        }
    }

    let mut summary = totals(&total);
    summary.insert("clients".into(), groups.len().into());
    summary.insert("quotas".into(), Value::Array(quota_list));
    summary.insert(
        "quota_note".into(),
        "used = the client's calls over all APIs and nodes in the quota window holding the report's end, refusals left out; limits from the client's current configuration; with scope node each gateway enforces the limit alone".into(),
    );
    let chart = bar_chart(
        "Calls per client",
        groups
            .iter()
            .map(|g| {
                let n = specs.get(&g.k1).map(|s| s.name.as_str()).unwrap_or("");
                (label(n, &g.k1), g.counts.calls)
            })
            .collect(),
    );
    Ok(Report {
        kind: ReportKind::Clients,
        title: "Client usage".into(),
        window: choice.window,
        source: choice.source,
        summary,
        table,
        chart: Some(chart),
        next_cursor: None,
    })
}

pub async fn client_apis(ctx: &Ctx<'_>) -> Result<Report> {
    crate::queries::source::refuse_search_params(ctx.params, "client-apis", false)?;
    let choice = choose(ctx.params, &ctx.window, &[Dim::Client, Dim::Api])?;
    let groups = counts_by(ctx, &choice, by_keys(Key::Client, Key::Api)).await?;
    let specs: HashMap<String, ClientSpec> = config_of(ctx.store, EntityKind::Client).await?;
    let total = sum(&groups);
    let mut columns = vec![
        Column::new("client_id", "Client id"),
        Column::new("client_name", "Client"),
        Column::new("api_id", "API id"),
        Column::new("api_name", "API"),
        Column::new("calls", "Calls"),
    ];
    columns.extend(Class::ALL.map(|c| Column::new(c.key(), c.label())));
    columns.push(Column::new("share_pct", "Share").unit("%"));
    columns.push(Column::new("avg_ms", "Average latency").unit("ms"));
    let mut table = Table::new(columns, choice.window.tz);
    let mut bars = Vec::new();
    for g in &groups {
        let name = specs.get(&g.k1).map(|s| s.name.clone()).unwrap_or_default();
        if bars.len() < CHART_BARS {
            bars.push((
                format!("{} · {}", label(&name, &g.k1), label(&g.name, &g.k2)),
                g.counts.calls,
            ));
        }
        let mut row: Vec<Cell> = vec![
            g.k1.as_str().into(),
            name.into(),
            g.k2.as_str().into(),
            g.name.as_str().into(),
            g.counts.calls.into(),
        ];
        row.extend(Class::ALL.map(|c| Cell::from(g.counts.get(c))));
        row.push(pct(g.counts.calls, total.calls).into());
        row.push(mean_ms(g.latency_sum_us, g.counts.calls).map_or(Cell::Null, Cell::from));
        table.push(row);
    }
    let mut summary = totals(&total);
    summary.insert("pairs".into(), groups.len().into());
    Ok(Report {
        kind: ReportKind::ClientApis,
        title: "Client × API usage".into(),
        window: choice.window,
        source: choice.source,
        summary,
        table,
        chart: Some(bar_chart("Calls per client and API", bars)),
        next_cursor: None,
    })
}

fn by_keys(k1: Key, k2: Key) -> By {
    By {
        k1,
        k2,
        only: None,
        limit: None,
    }
}

fn sum(groups: &[Group]) -> Counts {
    let mut t = Counts::default();
    for g in groups {
        t.add(&g.counts);
    }
    t
}

fn totals(t: &Counts) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("calls".into(), t.calls.into());
    for c in Class::ALL {
        m.insert(c.key().into(), t.get(c).into());
    }
    m
}

fn label(name: &str, id: &str) -> String {
    if name.is_empty() {
        id.to_string()
    } else {
        name.to_string()
    }
}

fn bar_chart(title: &str, bars: Vec<(String, u64)>) -> Chart {
    Chart {
        kind: ChartKind::HorizontalBar,
        title: title.into(),
        x_labels: bars.iter().map(|b| b.0.clone()).collect(),
        y_label: "calls".into(),
        series: vec![Series {
            name: "Calls".into(),
            values: bars.iter().map(|b| b.1 as f64).collect(),
        }],
    }
}

/// The whole hours of `[from, to)` from `client_api_1h`, the ragged ends (a minute window, a
/// zone off the hour) from the raw calls.
fn quota_parts(from: i64, to: i64) -> Vec<(Source, i64, i64)> {
    let h0 = from + (3_600 - from.rem_euclid(3_600)) % 3_600;
    let h1 = to - to.rem_euclid(3_600);
    if h0 >= h1 {
        return vec![(Source::Raw, from, to)];
    }
    let mut parts = vec![(Source::ClientHour, h0, h1)];
    if from < h0 {
        parts.push((Source::Raw, from, h0));
    }
    if h1 < to {
        parts.push((Source::Raw, h1, to));
    }
    parts
}

/// Each listed client's quota windows holding `at`, with the calls counted in them.
pub async fn quota_use(
    ctx: &Ctx<'_>,
    specs: &HashMap<String, ClientSpec>,
    ids: &[&str],
    at: DateTime<Utc>,
) -> Result<HashMap<String, Vec<QuotaUse>>> {
    // Clients sharing a window's bounds are counted by one query.
    let mut by_bounds: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    let mut out: HashMap<String, Vec<QuotaUse>> = HashMap::new();
    for id in ids {
        let Some(spec) = specs.get(*id) else { continue };
        let tz = spec.zone(ctx.window.tz);
        for (window, limit) in spec.quota.limits() {
            let (from, to) = window.bounds(at, tz);
            by_bounds
                .entry((from.timestamp(), to.timestamp()))
                .or_default()
                .push(id.to_string());
            out.entry(id.to_string()).or_default().push(QuotaUse {
                window,
                limit,
                used: 0,
                from,
                to,
            });
        }
    }
    for ((from, to), clients) in by_bounds {
        let mut used: HashMap<String, u64> = HashMap::new();
        for (source, a, b) in quota_parts(from, to) {
            // Refused calls took no quota: the store leaves them out.
            let rows = aggregate::quota_used(ctx.store, source, a, b, &clients).await?;
            for r in rows {
                *used.entry(r.client_id).or_default() += r.used;
            }
        }
        for (client, n) in used {
            for q in out.get_mut(&client).into_iter().flatten() {
                if (q.from.timestamp(), q.to.timestamp()) == (from, to) {
                    q.used = n;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_windows_split_into_whole_hours_and_raw_ends() {
        assert_eq!(quota_parts(0, 7_200), [(Source::ClientHour, 0, 7_200)]);
        assert_eq!(quota_parts(60, 120), [(Source::Raw, 60, 120)]);
        // A Kolkata day: 18:30 to 18:30 UTC.
        assert_eq!(
            quota_parts(66_600, 66_600 + 86_400),
            [
                (Source::ClientHour, 68_400, 151_200),
                (Source::Raw, 66_600, 68_400),
                (Source::Raw, 151_200, 153_000),
            ]
        );
    }
}
