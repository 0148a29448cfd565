//! The query most aggregate reports share: calls by outcome class (and total latency) per
//! group key, from whichever table [`super::source::choose`] picked.

use std::collections::HashMap;

use gatewatch_model::report::Window;
use gatewatch_store::Store;
use serde::Deserialize;

use crate::catalog::Ctx;
use crate::error::Result;
use crate::queries::filter::{conditions, Source};
use crate::queries::source::{fetch, Agg, Choice, Counts};

/// One group's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub k1: String,
    pub k2: String,
    /// The API's recorded name when the group has one API (empty from `client_api_1h`).
    pub name: String,
    pub counts: Counts,
    pub latency_sum_us: u64,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Row {
    g1: String,
    g2: String,
    g_name: String,
    c_calls: u64,
    c_success: u64,
    c_client_error: u64,
    c_server_error: u64,
    c_refused: u64,
    lat_sum: u64,
}

/// What to group by and which rows to count.
pub struct By<'a> {
    /// SQL expressions of our own (column names), never caller text.
    pub k1: &'a str,
    pub k2: &'a str,
    /// An extra condition of our own (`outcome != 'ok'`).
    pub only: Option<&'a str>,
    pub limit: Option<u32>,
}

/// Calls per group, most calls first (ties by key).
pub async fn counts_by(ctx: &Ctx<'_>, choice: &Choice, by: By<'_>) -> Result<Vec<Group>> {
    let agg = Agg(choice.source);
    let mut cond = conditions(ctx.params, &choice.window, choice.source);
    if let Some(o) = by.only {
        cond = format!("{cond} AND {o}");
    }
    let sql = format!(
        "SELECT {k1} AS g1, {k2} AS g2, {name} AS g_name, {counts}, {lat} AS lat_sum \
         FROM {table} WHERE {cond} GROUP BY g1, g2 ORDER BY c_calls DESC, g1, g2{limit}",
        k1 = by.k1,
        k2 = by.k2,
        name = agg.api_name().unwrap_or_else(|| "''".into()),
        counts = agg.class_counts(),
        lat = agg.latency_sum(),
        table = choice.source.table(),
        limit = by.limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default(),
    );
    let mut rows: Vec<Row> = fetch(ctx.store, &sql).await?;
    if agg.api_name().is_none() && (by.k1 == "api_id" || by.k2 == "api_id") {
        let names = api_names(ctx.store, &choice.window).await?;
        for r in &mut rows {
            let id = if by.k1 == "api_id" { &r.g1 } else { &r.g2 };
            r.g_name = names.get(id).cloned().unwrap_or_default();
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| Group {
            k1: r.g1,
            k2: r.g2,
            name: r.g_name,
            counts: Counts {
                calls: r.c_calls,
                success: r.c_success,
                client_error: r.c_client_error,
                server_error: r.c_server_error,
                refused: r.c_refused,
            },
            latency_sum_us: r.lat_sum,
        })
        .collect())
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct NameRow {
    api_id: String,
    name: String,
}

/// API names as last recorded in the window (for tables that do not keep them), from the
/// hour rollup.
pub async fn api_names(store: &Store, w: &Window) -> Result<HashMap<String, String>> {
    let w = crate::queries::source::widen(w, 3_600);
    let sql = format!(
        "SELECT api_id, anyLastMerge(api_name) AS name FROM {} \
         WHERE ts >= toDateTime({}) AND ts < toDateTime({}) GROUP BY api_id",
        Source::Hour.table(),
        w.from.timestamp(),
        w.to.timestamp()
    );
    let rows: Vec<NameRow> = fetch(store, &sql).await?;
    Ok(rows.into_iter().map(|r| (r.api_id, r.name)).collect())
}
