//! `GET /api/v1/nodes`: every node heard from lately — the processes of the node registry
//! (`store::registry`, one heartbeat every few seconds per process: role, node groups, build
//! version, listen addresses, started, the APIs a gateway serves) merged with the newest
//! figures of `node_metrics` (`store::observe`: CPU, memory, disks, backlog; today only
//! gateways sample). A node known only from samples (a gateway older than the registry) or
//! only from the registry (collector, alerter, … which do not sample) is listed all the same.
//! Nodes and processes that stopped reporting come first. Charts over time are the report
//! API's `nodes` report.

use crate::extract::Query;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use gatewatch_store::observe::{self, NodeReading};
use gatewatch_store::registry::{self, NodeEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::answer::time_of;
use crate::error::ApiError;
use crate::AppState;

/// How often every process writes its heartbeat (one constant, the registry's).
pub use gatewatch_store::registry::HEARTBEAT_SECS;
/// A process has stopped reporting after three missed heartbeats, unless the caller names
/// `silent_after_secs`.
pub const HEARTBEAT_SILENT_AFTER_SECS: u64 = 3 * HEARTBEAT_SECS;

/// The roles a process registers as (the `role` filter takes only these, so a typo is an
/// error rather than an empty list).
pub const ROLES: [&str; 6] = [
    "gateway",
    "collector",
    "alerter",
    "reports",
    "dashboards",
    "portal",
];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeParams {
    /// Nodes seen in the last this many hours, 1 to 744 (default 24).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 744)]
    hours: Option<String>,
    /// A node or process is `silent` / `stopped` after this many seconds without a sample
    /// or heartbeat (default: 3 × the sample interval for samples, 3 × the 5 s heartbeat =
    /// 15 s for heartbeats). Given, it applies to both.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 604800)]
    silent_after_secs: Option<String>,
    /// Only nodes running a process of this role (`gateway`, `collector`, `alerter`,
    /// `reports`, `dashboards`, `portal`).
    #[param(value_type = Option<String>)]
    role: Option<String>,
    /// Only nodes with a process in this node group (`a-z 0-9 - _ .`, as `[gateway]
    /// node_groups`).
    #[param(value_type = Option<String>)]
    group: Option<String>,
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

/// One process of the node: what its newest heartbeat says (when it registers) and its
/// newest sample (when it samples: gateways).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeProcess {
    /// `gateway`, `collector`, `alerter`, `reports`, `dashboards` (or `portal`).
    pub role: String,
    /// Its main listen address; empty for a process known only from samples.
    pub instance: String,
    /// Its node groups (a gateway's `[gateway] node_groups`; empty for other roles and for
    /// a process known only from samples).
    pub groups: Vec<String>,
    /// Its build version; null when it never registered.
    pub version: Option<String>,
    /// Addresses it listens on.
    pub listen: Vec<String>,
    /// When it started (RFC 3339); null when it never registered.
    pub started: Option<String>,
    /// Its newest heartbeat (RFC 3339); null when it never registered.
    pub last_heartbeat: Option<String>,
    /// For a gateway: the ids of the APIs it serves (sorted).
    pub apis: Vec<String>,
    /// Its last heartbeat said it was stopping (a clean stop).
    pub stopping: bool,
    /// It stopped reporting: said `stopping`, or nothing (heartbeat or sample) heard for
    /// `silent_after_secs`.
    pub stopped: bool,
    /// It writes heartbeats (false: known only from its samples, an older build).
    pub registered: bool,
    /// Resident memory at its newest sample; null when it does not sample.
    pub rss_bytes: Option<u64>,
    /// Its newest sample (RFC 3339); null when it does not sample.
    pub last_sample: Option<String>,
    /// The newest of its heartbeat and sample.
    pub last_seen: String,
    /// Seconds from `last_seen` to now.
    pub age_secs: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Node {
    pub node: String,
    /// Union of its processes' node groups (sorted).
    pub groups: Vec<String>,
    /// Roles of its processes (sorted, each once).
    pub roles: Vec<String>,
    /// Every process of the node stopped reporting (or said `stopping`).
    pub stopped: bool,
    /// The newest sample or heartbeat of any process of the node.
    pub last_seen: String,
    /// Seconds from `last_seen` to now.
    pub age_secs: u64,
    /// Nothing (sample or heartbeat) heard for more than `silent_after_secs`.
    pub silent: bool,
    /// Machine figures of the newest sample; null when no process of the node samples.
    pub cpu_pct: Option<f64>,
    pub mem_used_bytes: Option<u64>,
    pub mem_total_bytes: Option<u64>,
    pub mem_pct: Option<f64>,
    /// Resident memory of the process that sent the newest sample.
    pub rss_bytes: Option<u64>,
    pub disks: Vec<Disk>,
    /// Summed over the node's processes (their newest samples).
    pub backlog: NodeBacklog,
    /// Stopped processes first, then by role and instance.
    pub processes: Vec<NodeProcess>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodesPage {
    /// Stopped and silent nodes first, then nodes with a stopped process, then by name.
    pub items: Vec<Node>,
    pub hours: u64,
    /// The limit applied to samples.
    pub silent_after_secs: u64,
    /// The limit applied to heartbeats.
    pub heartbeat_silent_after_secs: u64,
}

pub const MAX_HOURS: u64 = 24 * 31;

/// How long without news makes a process stopped, per kind of news.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub sample_secs: u64,
    pub heartbeat_secs: u64,
}

fn pct(used: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        // Two decimals are what a page shows.
        (10_000.0 * used as f64 / total as f64).round() / 100.0
    }
}

/// A whole number from 1 to `max`, or None when absent; anything else names `field`.
fn number(field: &str, v: Option<&str>, max: u64) -> Result<Option<u64>, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("{s:?} must be a whole number from 1 to {max}"),
                )
            }),
    }
}

fn secs_between(now_us: i64, then_us: i64) -> u64 {
    u64::try_from(now_us.saturating_sub(then_us) / 1_000_000).unwrap_or(0)
}

/// One process while folding: its registry entry and/or its newest sample.
struct Proc {
    entry: Option<NodeEntry>,
    sample: Option<NodeReading>,
}

impl Proc {
    fn role(&self) -> &str {
        match (&self.entry, &self.sample) {
            (Some(e), _) => &e.role,
            (None, Some(s)) => &s.role,
            (None, None) => "",
        }
    }

    fn view(&self, now_us: i64, limits: Limits) -> NodeProcess {
        let hb = self.entry.as_ref().map(|e| e.heartbeat_us);
        let sample = self.sample.as_ref().map(|s| s.ts_us);
        let newest = hb.into_iter().chain(sample).max().unwrap_or(0);
        // Alive while either kind of news is recent: a gateway whose heartbeat insert fails
        // but whose samples arrive is still running.
        let hb_fresh = hb.is_some_and(|t| secs_between(now_us, t) <= limits.heartbeat_secs);
        let sample_fresh = sample.is_some_and(|t| secs_between(now_us, t) <= limits.sample_secs);
        let stopping = self.entry.as_ref().is_some_and(|e| e.stopping);
        NodeProcess {
            role: self.role().to_string(),
            instance: self
                .entry
                .as_ref()
                .map(|e| e.instance.clone())
                .unwrap_or_default(),
            groups: self
                .entry
                .as_ref()
                .map(|e| e.groups.clone())
                .unwrap_or_default(),
            version: self.entry.as_ref().map(|e| e.version.clone()),
            listen: self
                .entry
                .as_ref()
                .map(|e| e.listen.clone())
                .unwrap_or_default(),
            started: self.entry.as_ref().map(|e| time_of(e.started_us)),
            last_heartbeat: hb.map(time_of),
            apis: self
                .entry
                .as_ref()
                .map(|e| e.apis.clone())
                .unwrap_or_default(),
            stopping,
            stopped: stopping || !(hb_fresh || sample_fresh),
            registered: self.entry.is_some(),
            rss_bytes: self.sample.as_ref().map(|s| s.rss_bytes),
            last_sample: sample.map(time_of),
            last_seen: time_of(newest),
            age_secs: secs_between(now_us, newest),
        }
    }
}

/// Merges the registry's processes (`entries`, newest heartbeat per node, role, instance)
/// with the newest sample per (node, role) into one item per node. Samples carry no
/// instance: one goes to the process of its role on its node with the newest heartbeat, or
/// stands alone (a gateway older than the registry).
pub fn fold(
    entries: Vec<NodeEntry>,
    readings: Vec<NodeReading>,
    now_us: i64,
    limits: Limits,
) -> Vec<Node> {
    let mut by_node: BTreeMap<String, (Vec<Proc>, Vec<NodeReading>)> = BTreeMap::new();
    for e in entries {
        by_node.entry(e.node.clone()).or_default().0.push(Proc {
            entry: Some(e),
            sample: None,
        });
    }
    for r in readings {
        by_node.entry(r.node.clone()).or_default().1.push(r);
    }
    let mut out: Vec<Node> = by_node
        .into_iter()
        .map(|(node, (mut procs, mut rs))| {
            rs.sort_by(|a, b| b.ts_us.cmp(&a.ts_us).then_with(|| a.role.cmp(&b.role)));
            let mut backlog = NodeBacklog::default();
            for r in &rs {
                backlog.queue_depth += r.backlog.queue_depth;
                backlog.spool_bytes += r.backlog.spool_bytes;
                backlog.spool_batches += r.backlog.spool_batches;
                backlog.records_dropped += r.backlog.records_dropped;
            }
            let newest = rs.first().cloned();
            for r in rs {
                let home = procs
                    .iter_mut()
                    .filter(|p| {
                        p.sample.is_none() && p.entry.as_ref().is_some_and(|e| e.role == r.role)
                    })
                    .max_by_key(|p| p.entry.as_ref().map_or(0, |e| e.heartbeat_us));
                match home {
                    Some(p) => p.sample = Some(r),
                    None => procs.push(Proc {
                        entry: None,
                        sample: Some(r),
                    }),
                }
            }
            let mut processes: Vec<NodeProcess> =
                procs.iter().map(|p| p.view(now_us, limits)).collect();
            processes.sort_by(|a, b| {
                b.stopped
                    .cmp(&a.stopped)
                    .then_with(|| a.role.cmp(&b.role))
                    .then_with(|| a.instance.cmp(&b.instance))
            });
            let groups: BTreeSet<&String> = processes.iter().flat_map(|p| &p.groups).collect();
            let roles: BTreeSet<&String> = processes.iter().map(|p| &p.role).collect();
            let age_secs = processes.iter().map(|p| p.age_secs).min().unwrap_or(0);
            let last_seen = processes
                .iter()
                .min_by_key(|p| p.age_secs)
                .map(|p| p.last_seen.clone())
                .unwrap_or_default();
            // Silent: no news in time from any process (a clean stop is `stopped`, not silent).
            let silent = procs.iter().all(|p| {
                let hb_fresh = p
                    .entry
                    .as_ref()
                    .is_some_and(|e| secs_between(now_us, e.heartbeat_us) <= limits.heartbeat_secs);
                let sample_fresh = p
                    .sample
                    .as_ref()
                    .is_some_and(|s| secs_between(now_us, s.ts_us) <= limits.sample_secs);
                !(hb_fresh || sample_fresh)
            });
            Node {
                groups: groups.into_iter().cloned().collect(),
                roles: roles.into_iter().cloned().collect(),
                stopped: processes.iter().all(|p| p.stopped),
                node,
                last_seen,
                age_secs,
                silent,
                cpu_pct: newest
                    .as_ref()
                    .map(|n| (f64::from(n.cpu_pct) * 100.0).round() / 100.0),
                mem_used_bytes: newest.as_ref().map(|n| n.mem_used_bytes),
                mem_total_bytes: newest.as_ref().map(|n| n.mem_total_bytes),
                mem_pct: newest
                    .as_ref()
                    .map(|n| pct(n.mem_used_bytes, n.mem_total_bytes)),
                rss_bytes: newest.as_ref().map(|n| n.rss_bytes),
                disks: newest
                    .iter()
                    .flat_map(|n| &n.disks)
                    .map(|d| Disk {
                        mount: d.mount.clone(),
                        used_bytes: d.used_bytes,
                        total_bytes: d.total_bytes,
                        used_pct: pct(d.used_bytes, d.total_bytes),
                    })
                    .collect(),
                backlog,
                processes,
            }
        })
        .collect();
    let rank = |n: &Node| {
        (
            !(n.stopped || n.silent),
            !n.processes.iter().any(|p| p.stopped),
        )
    };
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.node.cmp(&b.node)));
    out
}

/// The `role` and `group` filters: a node stays when it runs a process of `role` and has
/// `group` among its groups.
fn keep(n: &Node, role: Option<&str>, group: Option<&str>) -> bool {
    role.is_none_or(|r| n.roles.iter().any(|x| x == r))
        && group.is_none_or(|g| n.groups.iter().any(|x| x == g))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(p): Query<NodeParams>,
) -> Result<Json<NodesPage>, ApiError> {
    let hours = number("hours", p.hours.as_deref(), MAX_HOURS)?.unwrap_or(24);
    let given = number(
        "silent_after_secs",
        p.silent_after_secs.as_deref(),
        7 * 24 * 3600,
    )?;
    let limits = Limits {
        sample_secs: given.unwrap_or(state.config.node_silent_after.as_secs().max(1)),
        heartbeat_secs: given.unwrap_or(HEARTBEAT_SILENT_AFTER_SECS),
    };
    let role = p.role.as_deref().filter(|s| !s.is_empty());
    if let Some(r) = role {
        if !ROLES.contains(&r) {
            return Err(ApiError::invalid(
                "role",
                format!("{r:?} is not one of {}", ROLES.join(", ")),
            ));
        }
    }
    let group = p.group.as_deref().filter(|s| !s.is_empty());
    if let Some(g) = group {
        gatewatch_model::node::check_group("group", g)?;
    }
    let now = Utc::now();
    let since = u32::try_from(now.timestamp() - (hours * 3600) as i64).unwrap_or(0);
    let readings = observe::latest_node_readings(&state.store, since).await?;
    let entries = registry::list(&state.store, i64::from(since) * 1_000_000).await?;
    let mut items = fold(entries, readings, now.timestamp_micros(), limits);
    items.retain(|n| keep(n, role, group));
    Ok(Json(NodesPage {
        items,
        hours,
        silent_after_secs: limits.sample_secs,
        heartbeat_silent_after_secs: limits.heartbeat_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatewatch_model::Backlog;
    use gatewatch_store::observe::DiskReading;

    const LIMITS: Limits = Limits {
        sample_secs: 30,
        heartbeat_secs: 15,
    };

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

    fn entry(node: &str, role: &str, instance: &str, groups: &[&str], hb_us: i64) -> NodeEntry {
        NodeEntry {
            node: node.into(),
            role: role.into(),
            instance: instance.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            version: "0.9.0".into(),
            listen: vec![instance.into()],
            started_us: hb_us - 60_000_000,
            heartbeat_us: hb_us,
            apis: if role == "gateway" {
                vec!["orders".into(), "pay".into()]
            } else {
                vec![]
            },
            stopping: false,
        }
    }

    const NOW: i64 = 1_000_000_000_000;
    const S: i64 = 1_000_000;

    #[test]
    fn silent_nodes_come_first_and_processes_fold_into_their_node() {
        let nodes = fold(
            vec![],
            vec![
                reading("a", "gateway", NOW - 5 * S, 2),
                reading("a", "collector", NOW - 9 * S, 3),
                reading("b", "gateway", NOW - 31 * S, 0),
            ],
            NOW,
            LIMITS,
        );
        assert_eq!(nodes[0].node, "b");
        assert!(nodes[0].silent && nodes[0].stopped && nodes[0].age_secs == 31);
        let a = &nodes[1];
        assert!(!a.silent && !a.stopped);
        assert_eq!(a.backlog.queue_depth, 5);
        // Sample-only processes: by role, figures from the newest sample.
        assert_eq!(a.roles, ["collector", "gateway"]);
        assert_eq!(a.processes[1].role, "gateway");
        assert!(!a.processes[1].registered && a.processes[1].version.is_none());
        assert_eq!(a.processes[1].rss_bytes, Some(7));
        assert_eq!(a.mem_pct, Some(33.33));
        assert_eq!(a.disks[0].used_pct, 12.5);
        assert!(a.groups.is_empty());
    }

    #[test]
    fn registry_and_samples_merge_per_process() {
        let nodes = fold(
            vec![
                entry(
                    "n1",
                    "gateway",
                    "10.0.0.1:8080",
                    &["edge", "default"],
                    NOW - 2 * S,
                ),
                entry("n1", "collector", "10.0.0.1:8091", &[], NOW - 3 * S),
                entry(
                    "n1",
                    "gateway",
                    "10.0.0.1:9080",
                    &["internal"],
                    NOW - 40 * S,
                ),
            ],
            vec![reading("n1", "gateway", NOW - 4 * S, 1)],
            NOW,
            LIMITS,
        );
        assert_eq!(nodes.len(), 1);
        let n = &nodes[0];
        assert_eq!(n.groups, ["default", "edge", "internal"]);
        assert_eq!(n.roles, ["collector", "gateway"]);
        assert!(!n.stopped && !n.silent);
        assert_eq!(n.age_secs, 2);
        // The stopped gateway first; the sample went to the gateway with the newest beat.
        let ids: Vec<_> = n.processes.iter().map(|p| p.instance.as_str()).collect();
        assert_eq!(ids, ["10.0.0.1:9080", "10.0.0.1:8091", "10.0.0.1:8080"]);
        let (old, col, live) = (&n.processes[0], &n.processes[1], &n.processes[2]);
        assert!(old.stopped && !old.stopping && old.rss_bytes.is_none());
        assert!(!col.stopped && col.rss_bytes.is_none() && col.apis.is_empty());
        assert!(!live.stopped && live.registered);
        assert_eq!(live.rss_bytes, Some(7));
        assert_eq!(
            live.last_sample.as_deref(),
            Some(time_of(NOW - 4 * S).as_str())
        );
        assert_eq!(
            live.last_heartbeat.as_deref(),
            Some(time_of(NOW - 2 * S).as_str())
        );
        assert_eq!(live.apis, ["orders", "pay"]);
        assert_eq!(live.version.as_deref(), Some("0.9.0"));
        assert_eq!(n.cpu_pct, Some(12.5));
    }

    #[test]
    fn registry_only_nodes_have_no_figures_and_stopping_is_stopped() {
        let mut bye = entry("z-alerter", "alerter", "127.0.0.1:8092", &[], NOW - S);
        bye.stopping = true;
        let nodes = fold(
            vec![
                entry("m-col", "collector", "127.0.0.1:8091", &[], NOW - S),
                bye,
                entry("a-live", "gateway", "127.0.0.1:8080", &["edge"], NOW - S),
            ],
            vec![],
            NOW,
            LIMITS,
        );
        let names: Vec<_> = nodes.iter().map(|n| n.node.as_str()).collect();
        // The node that said goodbye first: stopped, but not silent (it was heard 1 s ago).
        assert_eq!(names, ["z-alerter", "a-live", "m-col"]);
        assert!(nodes[0].stopped && !nodes[0].silent && nodes[0].processes[0].stopping);
        let col = &nodes[2];
        assert!(col.cpu_pct.is_none() && col.rss_bytes.is_none() && col.disks.is_empty());
        assert_eq!(col.roles, ["collector"]);
        assert!(!col.stopped);
    }

    #[test]
    fn a_node_with_one_stopped_process_comes_before_healthy_ones() {
        let nodes = fold(
            vec![
                entry("a", "gateway", "x:1", &[], NOW - S),
                entry("b", "gateway", "x:1", &[], NOW - S),
                entry("b", "collector", "x:2", &[], NOW - 16 * S),
            ],
            vec![],
            NOW,
            LIMITS,
        );
        assert_eq!(nodes[0].node, "b");
        assert!(!nodes[0].stopped && nodes[0].processes[0].stopped);
        // A sample keeps a process alive when its heartbeats stall.
        let nodes = fold(
            vec![entry("c", "gateway", "x:1", &[], NOW - 20 * S)],
            vec![reading("c", "gateway", NOW - 10 * S, 0)],
            NOW,
            LIMITS,
        );
        assert!(!nodes[0].processes[0].stopped && !nodes[0].silent);
    }

    #[test]
    fn filters_match_roles_and_groups_of_the_node() {
        let nodes = fold(
            vec![
                entry("a", "gateway", "x:1", &["edge"], NOW - S),
                entry("b", "collector", "x:2", &[], NOW - S),
            ],
            vec![],
            NOW,
            LIMITS,
        );
        let pick = |r, g| -> Vec<&str> {
            nodes
                .iter()
                .filter(|n| keep(n, r, g))
                .map(|n| n.node.as_str())
                .collect()
        };
        assert_eq!(pick(Some("gateway"), None), ["a"]);
        assert_eq!(pick(Some("collector"), None), ["b"]);
        assert_eq!(pick(None, Some("edge")), ["a"]);
        assert_eq!(pick(Some("collector"), Some("edge")), Vec::<&str>::new());
        assert_eq!(pick(None, None), ["a", "b"]);
    }
}
