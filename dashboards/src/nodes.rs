//! `GET /api/v1/nodes`: every node seen lately with its newest figures and whether it has gone
//! silent, read from `node_metrics` (`store::observe`). Charts over time are the report API's
//! `nodes` report.

use crate::extract::Query;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use gatewatch_store::observe::{self, NodeReading};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeParams {
    /// Nodes seen in the last this many hours, 1 to 744 (default 24).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 744)]
    hours: Option<String>,
    /// A node is `silent` after this many seconds without a sample (default 3 × the sample interval).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 604800)]
    silent_after_secs: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Disk {
    pub mount: String,
    pub used_bytes: u64,
    pub total_bytes: u64,
    pub used_pct: f64,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct NodeBacklog {
    pub queue_depth: u64,
    pub spool_bytes: u64,
    pub spool_batches: u64,
    pub records_dropped: u64,
}

/// One sampling process of the node (today: its gateways).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeProcess {
    pub role: String,
    pub rss_bytes: u64,
    pub last_seen: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Node {
    pub node: String,
    /// The newest sample of any process of the node.
    pub last_seen: String,
    /// Seconds from `last_seen` to now.
    pub age_secs: u64,
    /// No sample for more than `silent_after_secs`.
    pub silent: bool,
    /// Machine figures of the newest sample.
    pub cpu_pct: f64,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub mem_pct: f64,
    /// Resident memory of the process that sent the newest sample.
    pub rss_bytes: u64,
    pub disks: Vec<Disk>,
    /// Summed over the node's processes (their newest samples).
    pub backlog: NodeBacklog,
    pub processes: Vec<NodeProcess>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodesPage {
    /// Silent nodes first, then by name.
    pub items: Vec<Node>,
    pub hours: u64,
    pub silent_after_secs: u64,
}

pub const MAX_HOURS: u64 = 24 * 31;

fn pct(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        // Two decimals are what a page shows.
        (10_000.0 * used as f64 / total as f64).round() / 100.0
    }
}

fn number(field: &str, v: Option<&str>, default: u64, max: u64) -> Result<u64, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{s:?} must be a whole number from 1 to {max}"),
                )
            }),
    }
}

/// Folds the newest readings per (node, role) into one entry per node.
pub fn fold(readings: Vec<NodeReading>, now_us: i64, silent_after_secs: u64) -> Vec<Node> {
    let mut by_node: BTreeMap<String, Vec<NodeReading>> = BTreeMap::new();
    for r in readings {
        by_node.entry(r.node.clone()).or_default().push(r);
    }
    let mut out: Vec<Node> = by_node
        .into_iter()
        .filter_map(|(node, mut rs)| {
            rs.sort_by(|a, b| b.ts_us.cmp(&a.ts_us).then_with(|| a.role.cmp(&b.role)));
            let newest = rs.first()?.clone();
            let age_secs = u64::try_from((now_us - newest.ts_us) / 1_000_000).unwrap_or(0);
            let mut backlog = NodeBacklog::default();
            for r in &rs {
                backlog.queue_depth += r.backlog.queue_depth;
                backlog.spool_bytes += r.backlog.spool_bytes;
                backlog.spool_batches += r.backlog.spool_batches;
                backlog.records_dropped += r.backlog.records_dropped;
            }
            Some(Node {
                node,
                last_seen: time_of(newest.ts_us),
                age_secs,
                silent: age_secs > silent_after_secs,
                cpu_pct: (f64::from(newest.cpu_pct) * 100.0).round() / 100.0,
                mem_used_bytes: newest.mem_used_bytes,
                mem_total_bytes: newest.mem_total_bytes,
                mem_pct: pct(newest.mem_used_bytes, newest.mem_total_bytes),
                rss_bytes: newest.rss_bytes,
                disks: newest
                    .disks
                    .iter()
                    .map(|d| Disk {
                        mount: d.mount.clone(),
                        used_bytes: d.used_bytes,
                        total_bytes: d.total_bytes,
                        used_pct: pct(d.used_bytes, d.total_bytes),
                    })
                    .collect(),
                backlog,
                processes: rs
                    .iter()
                    .map(|r| NodeProcess {
                        role: r.role.clone(),
                        rss_bytes: r.rss_bytes,
                        last_seen: time_of(r.ts_us),
                    })
                    .collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.silent.cmp(&a.silent).then_with(|| a.node.cmp(&b.node)));
    out
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(p): Query<NodeParams>,
) -> Result<Json<NodesPage>, ApiError> {
    let hours = number("hours", p.hours.as_deref(), 24, MAX_HOURS)?;
    let silent_after_secs = number(
        "silent_after_secs",
        p.silent_after_secs.as_deref(),
        state.config.node_silent_after.as_secs().max(1),
        7 * 24 * 3600,
    )?;
    let now = Utc::now();
    let since = u32::try_from(now.timestamp() - (hours * 3600) as i64).unwrap_or(0);
    let readings = observe::latest_node_readings(&state.store, since).await?;
    Ok(Json(NodesPage {
        items: fold(readings, now.timestamp_micros(), silent_after_secs),
        hours,
        silent_after_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::Backlog;
    use gatewatch_store::observe::DiskReading;

    fn reading(node: &str, role: &str, ts_us: i64, queue: u64) -> NodeReading {
        NodeReading {
            node: node.into(),
            role: role.into(),
            ts_us,
            cpu_pct: 12.5,
            mem_used_bytes: 1,
            mem_total_bytes: 3,
            rss_bytes: 7,
            disks: vec![DiskReading {
                mount: "/".into(),
                used_bytes: 1,
                total_bytes: 8,
            }],
            backlog: Backlog {
                queue_depth: queue,
                ..Backlog::default()
            },
        }
    }

    #[test]
    fn silent_nodes_come_first_and_processes_fold_into_their_node() {
        let now = 1_000_000_000_000;
        let nodes = fold(
            vec![
                reading("a", "gateway", now - 5_000_000, 2),
                reading("a", "collector", now - 9_000_000, 3),
                reading("b", "gateway", now - 31_000_000, 0),
            ],
            now,
            30,
        );
        assert_eq!(nodes[0].node, "b");
        assert!(nodes[0].silent && nodes[0].age_secs == 31);
        let a = &nodes[1];
        assert!(!a.silent);
        assert_eq!(a.backlog.queue_depth, 5);
        assert_eq!(a.processes[0].role, "gateway");
        assert_eq!(a.mem_pct, 33.33);
        assert_eq!(a.disks[0].used_pct, 12.5);
    }
}
