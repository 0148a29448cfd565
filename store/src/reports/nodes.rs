//! The node report's reads: figures per node and bucket from `node_metrics`, and the disks.

use gatewatch_model::report::{ReportParams, Window};
use serde::Deserialize;

use super::filter::{bucket_expr, conditions};
use super::{Scope, Source};
use crate::query::Sql;
use crate::{Result, Store};

/// CPU, memory and process RSS of one node in one bucket.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct NodeRow {
    pub b: u32,
    pub node: String,
    pub samples: u64,
    pub cpu_avg: f64,
    pub cpu_max: f32,
    pub mem_avg: f64,
    pub mem_max: u64,
    pub mem_total: u64,
    pub rss_avg: f64,
    pub rss_max: u64,
}

/// One mount of one node in one bucket: its largest used bytes, size and used share.
#[derive(Debug, Clone, clickhouse::Row, Deserialize)]
pub struct DiskRow {
    pub b: u32,
    pub node: String,
    pub m: String,
    pub used_max: u64,
    pub total_max: u64,
    pub ratio_max: f64,
}

fn scope<'a>(params: &'a ReportParams, window: &'a Window) -> Scope<'a> {
    Scope {
        params,
        window,
        source: Source::NodeMetrics,
    }
}

/// Figures per bucket and node, ordered so.
pub async fn figures(store: &Store, params: &ReportParams, w: &Window) -> Result<Vec<NodeRow>> {
    let mut s = Sql::new("SELECT ");
    s.append(&bucket_expr(w)).push(
        " AS b, node, count() AS samples, avg(cpu_pct) AS cpu_avg, \
         max(cpu_pct) AS cpu_max, avg(mem_used_bytes) AS mem_avg, max(mem_used_bytes) AS mem_max, \
         max(mem_total_bytes) AS mem_total, avg(rss_bytes) AS rss_avg, max(rss_bytes) AS rss_max \
         FROM node_metrics WHERE ",
    );
    s.append(&conditions(&scope(params, w)));
    s.push(" GROUP BY b, node ORDER BY b, node");
    s.fetch_all(store).await
}

/// Every mount per bucket and node, ordered so.
pub async fn disks(store: &Store, params: &ReportParams, w: &Window) -> Result<Vec<DiskRow>> {
    let mut s = Sql::new("SELECT ");
    s.append(&bucket_expr(w)).push(
        " AS b, node, m, max(du) AS used_max, max(dt) AS total_max, \
         max(if(dt = 0, 0., du / dt)) AS ratio_max \
         FROM node_metrics ARRAY JOIN mount AS m, disk_used_bytes AS du, disk_total_bytes AS dt \
         WHERE ",
    );
    s.append(&conditions(&scope(params, w)));
    s.push(" GROUP BY b, node, m ORDER BY b, node, m");
    s.fetch_all(store).await
}
